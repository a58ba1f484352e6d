//! `mesh sagas stuck <domain>`: the entities of a domain that wait in a saga
//! step (`saga.deadlines`) and will not be told how it ended. An entity
//! whose latest event is a step's `starts_with` waits for it (the state
//! table keeps each entity's `last_event_type` and `last_event_time`); it
//! is stuck when it waits past its deadline (the deadline was delivered, or
//! was lost, and nothing ended the step), or when its deadline is still
//! ahead but no schedule keeps it (the relay never asked for one).
//!
//! What decides "stuck and why" ([`waiting`], [`stuck`], [`Report`]) is
//! pure; the AWS reading ([`check`]) is one DescribeStacks, one paginated
//! Scan per step and one GetSchedule per entity whose deadline is ahead.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use mesh_aws::dynamo_store::{LAST_EVENT_TIME, LAST_EVENT_TYPE};
use mesh_infra::descriptor::{Mesh, SagaDeadline};
use mesh_infra::templates::timeout_parameter;

use super::CommandError;
use super::stack::Stack;

/// The domain stack's outputs this command reads.
const STATE_TABLE: &str = "StateTable";
const SCHEDULE_GROUP: &str = "ScheduleGroupName";

/// One step of the domain's sagas, with the timeout the deployed stack uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub starts_with: String,
    /// The product whose answer ends the step (`<domain>/<product>`).
    pub waits_for: String,
    pub timeout: TimeDelta,
}

/// An entity's item of the state table, as the scan projects it. Items
/// written before the state kept its latest event lack both fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateRow {
    pub entity: String,
    pub last_event_type: Option<String>,
    /// RFC 3339.
    pub last_event_time: Option<String>,
}

/// An entity waiting in a step since its latest event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub entity: String,
    pub since: DateTime<Utc>,
    /// When its deadline is (or was) delivered: what the relay scheduled.
    pub due: DateTime<Utc>,
}

/// What a step's items hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Entities whose latest event starts the step.
    pub waiting: usize,
    /// Of those, the ones waiting at least `--older-than`, oldest first.
    pub old_enough: Vec<Waiting>,
    /// Items of the step's type without a readable `last_event_time`: skipped.
    pub unreadable: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// It waits past its deadline: nothing ended the step.
    PastDeadline,
    /// Its deadline is ahead, and no schedule keeps it.
    NoDeadline,
}

/// An entity that waits in a step and will not be told how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub entity: String,
    pub step: String,
    pub waits_for: String,
    pub since: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub why: Why,
}

/// The entities of `rows` that wait in `step`, and those among them that
/// have waited at least `older_than` (oldest first). A row of another type,
/// or without a readable time, is no entity waiting.
pub fn waiting(step: &Step, rows: &[StateRow], now: DateTime<Utc>, older_than: TimeDelta) -> Scan {
    let mut scan = Scan::default();
    for row in rows.iter().filter(|r| r.last_event_type.as_deref() == Some(step.starts_with.as_str())) {
        let Some(since) = row.last_event_time.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
            scan.unreadable += 1;
            continue;
        };
        let since = since.to_utc();
        scan.waiting += 1;
        if now - since >= older_than {
            let due = mesh::deadline::due(since, step.timeout);
            scan.old_enough.push(Waiting { entity: row.entity.clone(), since, due });
        }
    }
    scan.old_enough.sort_by(|a, b| (a.since, &a.entity).cmp(&(b.since, &b.entity)));
    scan
}

impl Waiting {
    /// Whether its deadline is still to come, so a schedule must keep it.
    pub fn deadline_ahead(&self, now: DateTime<Utc>) -> bool {
        now <= self.due
    }
}

/// Which of the `waiting` entities are stuck, and why, oldest first:
/// `scheduled(entity)` says whether a schedule keeps its deadline (asked
/// only of an entity whose deadline is ahead).
pub fn stuck(step: &Step, waiting: &[Waiting], now: DateTime<Utc>, scheduled: impl Fn(&str) -> bool) -> Vec<Stuck> {
    let mut stuck: Vec<Stuck> = waiting
        .iter()
        .filter_map(|w| {
            let why = if !w.deadline_ahead(now) {
                Why::PastDeadline
            } else if !scheduled(&w.entity) {
                Why::NoDeadline
            } else {
                return None;
            };
            Some(Stuck {
                entity: w.entity.clone(),
                step: step.name.clone(),
                waits_for: step.waits_for.clone(),
                since: w.since,
                due: w.due,
                why,
            })
        })
        .collect();
    stuck.sort_by(|a, b| (a.since, &a.entity).cmp(&(b.since, &b.entity)));
    stuck
}

/// What one step held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub step: Step,
    pub scan: Scan,
    pub stuck: Vec<Stuck>,
}

/// What `mesh sagas stuck` found in a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub domain: String,
    pub older_than: TimeDelta,
    pub now: DateTime<Utc>,
    pub steps: Vec<StepReport>,
    /// What the command assumed (printed on stderr as `note: ...`).
    pub notes: Vec<String>,
}

impl Report {
    /// Every stuck entity of every step, oldest first.
    pub fn stuck(&self) -> Vec<&Stuck> {
        let mut stuck: Vec<&Stuck> = self.steps.iter().flat_map(|s| &s.stuck).collect();
        stuck.sort_by(|a, b| (a.since, &a.entity, &a.step).cmp(&(b.since, &b.entity, &b.step)));
        stuck
    }

    /// One line per stuck entity: what it waits for, since when, and why.
    pub fn line(&self, stuck: &Stuck) -> String {
        let why = match stuck.why {
            Why::PastDeadline => {
                format!("past its deadline (due {}, {} ago)", time(stuck.due), span(self.now - stuck.due))
            }
            Why::NoDeadline => "no deadline scheduled".to_owned(),
        };
        format!(
            "{} {} waits for {} since {} ({}): {why}",
            stuck.entity,
            stuck.step,
            stuck.waits_for,
            time(stuck.since),
            span(self.now - stuck.since)
        )
    }

    /// One line per step: how many of its waiting entities are stuck.
    pub fn summary(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| {
                let (domain, waiting, step) = (&self.domain, s.scan.waiting, &s.step.name);
                let older = if self.older_than > TimeDelta::zero() {
                    format!(", {} for longer than {}", s.scan.old_enough.len(), span(self.older_than))
                } else {
                    String::new()
                };
                match s.stuck.len() {
                    0 if waiting == 0 => format!("nothing stuck in {step}: no {domain} entity waits in it"),
                    0 => format!(
                        "nothing stuck in {step}: {waiting} {domain} {} waiting{older}, \
                         each with its deadline ahead and scheduled",
                        entities(waiting)
                    ),
                    n => format!("{n} {domain} {} stuck in {step} (of {waiting} waiting{older})", entities(n)),
                }
            })
            .collect()
    }

    /// What the command prints on stdout: every stuck entity, oldest first,
    /// or the summary when none is.
    pub fn stdout(&self) -> String {
        let stuck = self.stuck();
        let lines: Vec<String> =
            if stuck.is_empty() { self.summary() } else { stuck.iter().map(|s| self.line(s)).collect() };
        lines.iter().map(|line| format!("{line}\n")).collect()
    }

    /// Fails with the summary (exit status 1) when an entity is stuck.
    pub fn verdict(&self) -> Result<(), CommandError> {
        if self.steps.iter().all(|s| s.stuck.is_empty()) {
            Ok(())
        } else {
            Err(CommandError::Failed(self.summary().join("\n")))
        }
    }
}

fn entities(n: usize) -> &'static str {
    if n == 1 { "entity" } else { "entities" }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A duration as `--older-than` takes it, to the two largest units:
/// `45s`, `12m 5s`, `2h 5m`, `3d 4h`.
pub fn span(d: TimeDelta) -> String {
    let seconds = d.num_seconds().max(0);
    let (days, hours, minutes, rest) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    let parts = [(days, "d"), (hours, "h"), (minutes, "m"), (rest, "s")];
    let first = parts.iter().position(|(n, _)| *n > 0).unwrap_or(3);
    parts[first..(first + 2).min(4)]
        .iter()
        .enumerate()
        .filter(|(i, (n, _))| *i == 0 || *n > 0)
        .map(|(_, (n, unit))| format!("{n}{unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `--older-than`: whole numbers with a unit, `s`, `m`, `h` or `d`, one
/// after another (`90s`, `10m`, `2h`, `1h30m`); `0` alone is no time.
pub fn parse_duration(text: &str) -> Result<TimeDelta, String> {
    let wrong = || format!("`{text}` is not a duration like 90s, 10m, 2h or 1h30m");
    let text = text.trim();
    if text.is_empty() {
        return Err(wrong());
    }
    if text == "0" {
        return Ok(TimeDelta::zero());
    }
    let mut total = TimeDelta::zero();
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(wrong)?;
        let n: i64 = rest[..digits].parse().map_err(|_| wrong())?;
        let unit = match rest[digits..].chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3_600,
            Some('d') => 86_400,
            _ => return Err(wrong()),
        };
        total += n.checked_mul(unit).and_then(TimeDelta::try_seconds).ok_or_else(wrong)?;
        rest = &rest[digits + 1..];
    }
    Ok(total)
}

/// The domain's deadlines, or why there are none to check.
pub fn deadlines<'a>(mesh: &'a Mesh, domain: &str) -> Result<&'a [SagaDeadline], CommandError> {
    let Some(file) = mesh.domains.iter().find(|d| d.descriptor.domain == domain) else {
        let known: Vec<&str> = mesh.domains.iter().map(|d| d.descriptor.domain.as_str()).collect();
        return Err(CommandError::Usage(format!(
            "no domain `{domain}` in the descriptors; the mesh's domains: {}",
            known.join(", ")
        )));
    };
    match file.descriptor.saga.as_ref().map(|s| s.deadlines.as_slice()) {
        Some(deadlines) if !deadlines.is_empty() => Ok(deadlines),
        _ => Err(CommandError::Usage(format!(
            "{domain} declares no saga deadlines (saga.deadlines in {}): none of its entities waits in a step",
            file.path.display()
        ))),
    }
}

/// The AWS clients the check reads with.
#[derive(Debug, Clone)]
pub struct Clients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub scheduler: aws_sdk_scheduler::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            scheduler: aws_sdk_scheduler::Client::new(config),
        }
    }
}

/// What to check: a domain deployed under `prefix`, and its deadlines ([`deadlines`]).
#[derive(Debug, Clone)]
pub struct Asked<'a> {
    pub domain: &'a str,
    pub deadlines: &'a [SagaDeadline],
    pub prefix: &'a str,
    pub older_than: TimeDelta,
    pub now: DateTime<Utc>,
}

/// Reads the deployed domain (`<prefix>-<domain>`) and reports its stuck entities.
pub async fn check(clients: &Clients, asked: &Asked<'_>) -> Result<Report, CommandError> {
    let name = format!("{}-{}", asked.prefix, asked.domain);
    let stack = Stack::describe(&clients.cloudformation, &name).await?;
    let table = stack.output(STATE_TABLE)?;
    let group = stack.outputs.get(SCHEDULE_GROUP);
    let mut report = Report {
        domain: asked.domain.to_owned(),
        older_than: asked.older_than,
        now: asked.now,
        steps: Vec::new(),
        notes: Vec::new(),
    };
    if group.is_none() {
        report.notes.push(format!(
            "stack {name} has no output {SCHEDULE_GROUP}: it schedules no deadlines, so no entity has one"
        ));
    }
    for deadline in asked.deadlines {
        let step = Step {
            name: deadline.step.clone(),
            starts_with: deadline.starts_with.clone(),
            waits_for: deadline.waits_for.to_string(),
            timeout: stack.timeout(deadline, &mut report.notes)?,
        };
        let rows = scan(&clients.dynamodb, table, &step.starts_with).await?;
        let scan = waiting(&step, &rows, asked.now, asked.older_than);
        if scan.unreadable > 0 {
            report.notes.push(format!(
                "{} item(s) of {table} whose latest event is {} have no readable last_event_time: skipped",
                scan.unreadable, step.starts_with
            ));
        }
        let mut scheduled = std::collections::HashSet::new();
        if let Some(group) = group {
            for waiting in scan.old_enough.iter().filter(|w| w.deadline_ahead(asked.now)) {
                if has_schedule(&clients.scheduler, group, &step.name, &waiting.entity).await? {
                    scheduled.insert(waiting.entity.as_str());
                }
            }
        }
        let stuck = stuck(&step, &scan.old_enough, asked.now, |entity| scheduled.contains(entity));
        report.steps.push(StepReport { step, scan, stuck });
    }
    Ok(report)
}

impl Stack {
    /// The step's timeout as deployed (`<Step>TimeoutSeconds`), or the
    /// descriptor's, with a note, when the stack has no such parameter.
    fn timeout(&self, deadline: &SagaDeadline, notes: &mut Vec<String>) -> Result<TimeDelta, CommandError> {
        let parameter = timeout_parameter(deadline);
        let Some(value) = self.parameters.get(&parameter) else {
            notes.push(format!(
                "stack {} has no parameter {parameter}: using the descriptor's timeout_seconds ({}) for {}",
                self.name, deadline.timeout_seconds, deadline.step
            ));
            return Ok(TimeDelta::seconds(i64::from(deadline.timeout_seconds)));
        };
        value.trim().parse::<u32>().map(|s| TimeDelta::seconds(i64::from(s))).map_err(|_| {
            CommandError::Unexpected(format!(
                "stack {}'s parameter {parameter} is `{value}`, not a number of seconds",
                self.name
            ))
        })
    }
}

/// Every item of `table` whose latest event is `starts_with` (pk and the
/// latest event only).
async fn scan(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    starts_with: &str,
) -> Result<Vec<StateRow>, CommandError> {
    let text = |item: &HashMap<String, AttributeValue>, name: &str| {
        item.get(name).and_then(|v| v.as_s().ok()).map(String::to_owned)
    };
    let mut rows = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .projection_expression(format!("pk, {LAST_EVENT_TYPE}, {LAST_EVENT_TIME}"))
            .filter_expression(format!("{LAST_EVENT_TYPE} = :starts_with"))
            .expression_attribute_values(":starts_with", AttributeValue::S(starts_with.to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(CommandError::aws(format!("Scan {table}")))?;
        for item in page.items() {
            rows.push(StateRow {
                entity: text(item, "pk").unwrap_or_default(),
                last_event_type: text(item, LAST_EVENT_TYPE),
                last_event_time: text(item, LAST_EVENT_TIME),
            });
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(rows);
        }
    }
}

/// Whether the schedule keeping `step`'s deadline for `entity` exists.
async fn has_schedule(
    scheduler: &aws_sdk_scheduler::Client,
    group: &str,
    step: &str,
    entity: &str,
) -> Result<bool, CommandError> {
    let name = mesh::deadline::schedule_name(step, entity);
    match scheduler.get_schedule().group_name(group).name(&name).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(false),
        Err(e) => Err(CommandError::aws(format!("GetSchedule {group}/{name}"))(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn now() -> DateTime<Utc> {
        at("2026-12-02T17:30:00Z")
    }

    fn step() -> Step {
        Step {
            name: "credit-check".into(),
            starts_with: "OrderPlaced".into(),
            waits_for: "customers/customer-credit".into(),
            timeout: TimeDelta::seconds(300),
        }
    }

    fn row(entity: &str, event_type: &str, time: &str) -> StateRow {
        StateRow { entity: entity.into(), last_event_type: Some(event_type.into()), last_event_time: Some(time.into()) }
    }

    fn waiting_since(entity: &str, time: &str) -> Waiting {
        waiting(&step(), &[row(entity, "OrderPlaced", time)], now(), TimeDelta::zero()).old_enough.remove(0)
    }

    #[test]
    fn an_entity_waiting_past_its_deadline_is_stuck_whatever_is_scheduled() {
        let late = waiting_since("o-1", "2026-12-02T17:20:00.250Z");

        let stuck = stuck(&step(), &[late], now(), |_| true);

        assert_eq!(stuck.len(), 1);
        assert_eq!((stuck[0].why, stuck[0].due), (Why::PastDeadline, at("2026-12-02T17:25:00Z")));
        assert_eq!(stuck[0].waits_for, "customers/customer-credit");
    }

    #[test]
    fn an_entity_whose_deadline_is_ahead_and_scheduled_is_not_stuck() {
        let fresh = waiting_since("o-1", "2026-12-02T17:28:00Z");

        assert_eq!(stuck(&step(), &[fresh], now(), |entity| entity == "o-1"), []);
    }

    #[test]
    fn an_entity_whose_deadline_is_ahead_but_not_scheduled_has_no_deadline() {
        let fresh = waiting_since("o-1", "2026-12-02T17:28:00Z");

        let stuck = stuck(&step(), &[fresh], now(), |_| false);

        assert_eq!(stuck.iter().map(|s| s.why).collect::<Vec<_>>(), [Why::NoDeadline]);
    }

    #[test]
    fn only_entities_waiting_longer_than_asked_are_looked_at_but_all_are_counted() {
        let rows = [
            row("o-old", "OrderPlaced", "2026-12-02T17:00:00Z"),
            row("o-new", "OrderPlaced", "2026-12-02T17:29:30Z"),
            row("o-done", "OrderApproved", "2026-12-02T17:00:00Z"),
        ];

        let scan = waiting(&step(), &rows, now(), parse_duration("10m").unwrap());

        assert_eq!(scan.waiting, 2);
        assert_eq!(scan.old_enough.iter().map(|w| w.entity.as_str()).collect::<Vec<_>>(), ["o-old"]);
    }

    #[test]
    fn stuck_entities_come_oldest_first() {
        let rows = [
            row("o-b", "OrderPlaced", "2026-12-02T17:10:00Z"),
            row("o-c", "OrderPlaced", "2026-12-02T17:29:00Z"),
            row("o-a", "OrderPlaced", "2026-12-02T17:01:00Z"),
        ];
        let scan = waiting(&step(), &rows, now(), TimeDelta::zero());

        let stuck = stuck(&step(), &scan.old_enough, now(), |_| false);

        assert_eq!(stuck.iter().map(|s| s.entity.as_str()).collect::<Vec<_>>(), ["o-a", "o-b", "o-c"]);
    }

    #[test]
    fn items_without_their_latest_event_are_skipped() {
        let before_the_change = StateRow { entity: "o-1".into(), ..StateRow::default() };
        let no_time = StateRow { last_event_time: None, ..row("o-2", "OrderPlaced", "") };
        let broken_time = row("o-3", "OrderPlaced", "yesterday");

        let scan = waiting(&step(), &[before_the_change, no_time, broken_time], now(), TimeDelta::zero());

        assert_eq!((scan.waiting, scan.old_enough.len(), scan.unreadable), (0, 0, 2));
    }

    #[test]
    fn the_report_says_what_each_stuck_entity_waits_for_since_when_and_why() {
        let rows = [
            row("o-2", "OrderPlaced", "2026-12-02T17:28:00Z"),
            row("o-1", "OrderPlaced", "2026-12-02T17:00:00Z"),
            row("o-3", "OrderPlaced", "2026-12-02T17:29:00Z"),
        ];
        let scan = waiting(&step(), &rows, now(), TimeDelta::zero());
        let stuck = stuck(&step(), &scan.old_enough, now(), |entity| entity == "o-3");
        let report = Report {
            domain: "orders".into(),
            older_than: TimeDelta::zero(),
            now: now(),
            steps: vec![StepReport { step: step(), scan, stuck }],
            notes: Vec::new(),
        };

        assert_eq!(
            report.stdout(),
            "o-1 credit-check waits for customers/customer-credit since 2026-12-02T17:00:00Z (30m): \
             past its deadline (due 2026-12-02T17:05:00Z, 25m ago)\n\
             o-2 credit-check waits for customers/customer-credit since 2026-12-02T17:28:00Z (2m): \
             no deadline scheduled\n"
        );
        assert_eq!(report.verdict().unwrap_err().to_string(), "2 orders entities stuck in credit-check (of 3 waiting)");
    }

    #[test]
    fn nothing_stuck_is_said_and_succeeds() {
        let scan = waiting(&step(), &[row("o-1", "OrderPlaced", "2026-12-02T17:29:00Z")], now(), TimeDelta::zero());
        let mut report = Report {
            domain: "orders".into(),
            older_than: TimeDelta::zero(),
            now: now(),
            steps: vec![StepReport { step: step(), scan, stuck: Vec::new() }],
            notes: Vec::new(),
        };

        assert_eq!(
            report.stdout(),
            "nothing stuck in credit-check: 1 orders entity waiting, each with its deadline ahead and scheduled\n"
        );
        assert!(report.verdict().is_ok());
        report.steps[0].scan = Scan::default();
        assert_eq!(report.stdout(), "nothing stuck in credit-check: no orders entity waits in it\n");
    }

    #[test]
    fn durations_read_and_print_in_the_same_units() {
        let read = |text| parse_duration(text).unwrap().num_seconds();
        assert_eq!(
            (read("90s"), read("10m"), read("2h"), read("1h30m"), read("1d"), read("0")),
            (90, 600, 7_200, 5_400, 86_400, 0)
        );
        for wrong in ["", "10", "10x", "m", "-5m", "1.5h"] {
            assert_eq!(
                parse_duration(wrong).unwrap_err(),
                format!("`{wrong}` is not a duration like 90s, 10m, 2h or 1h30m")
            );
        }
        let print = |seconds| span(TimeDelta::seconds(seconds));
        assert_eq!(
            [print(0), print(45), print(90), print(600), print(3_660), print(90_000), print(-5)],
            ["0s", "45s", "1m 30s", "10m", "1h 1m", "1d 1h", "0s"]
        );
    }
}
