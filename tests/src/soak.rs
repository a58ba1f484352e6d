//! The soak: the reference workload with faults injected into a fraction of
//! the functions' AWS calls and function processes killed at crash points,
//! then a final drain without faults, poison messages, and a check of every
//! event by id: nothing lost, every effect applied exactly once, per-entity
//! order kept, only the injected poison in the DLQs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use mesh::envelope::{Envelope, EventMeta};
use mesh::ordering::Order;
use mesh_infra::load_mesh;
use mesh_local::DeployOptions;
use mesh_local::faults::{CrashPoint, FaultPlan, FaultProxy, FaultStats};
use serde::Serialize;
use uuid::Uuid;

use crate::observe::{Observer, Position};
use crate::reference::Client;
use crate::workload::{self, Summary, Workload};
use mesh_cli::commands::dlq;

/// The events of the reference mesh a consumer answers with exactly one
/// event of its own (the effect, whose causation id is the cause's id).
const ONE_EFFECT_EACH: [&str; 6] =
    ["OrderPlaced", "OrderCancelled", "OrderCreditDeclined", "CreditReserved", "CreditLimitExceeded", "CreditRefused"];

#[derive(Debug, Clone)]
pub struct Soak {
    pub workload: Workload,
    /// Fraction of the functions' AWS calls that get a fault.
    pub fault_rate: f64,
    pub seed: u64,
    pub crash_points: Vec<CrashPoint>,
}

impl Soak {
    /// [`Soak::full`] with `SOAK_ORDERS` and `SOAK_FAULT_RATE` as `setting`
    /// finds them (the environment, for `make soak`).
    pub fn from_settings(setting: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut soak = Self::full();
        if let Some(value) = setting("SOAK_ORDERS") {
            soak.workload.orders = value
                .trim()
                .parse()
                .ok()
                .filter(|orders| *orders > 0)
                .ok_or_else(|| format!("SOAK_ORDERS={value:?} is not a positive whole number of orders"))?;
        }
        if let Some(value) = setting("SOAK_FAULT_RATE") {
            soak.fault_rate =
                value.trim().parse().ok().filter(|rate| (0.0..=1.0).contains(rate)).ok_or_else(|| {
                    format!("SOAK_FAULT_RATE={value:?} is not a fraction between 0 and 1 (0.1 = 10 %)")
                })?;
        }
        Ok(soak)
    }

    /// `make soak`: 10,000 orders, 10 % faults, every crash point.
    pub fn full() -> Self {
        let workload = Workload {
            customers: 200,
            orders: 10_000,
            redeliveries: 300,
            settle_timeout: Duration::from_secs(3_600),
            ..Workload::default()
        };
        Self { workload, fault_rate: 0.10, seed: 0x5EED, crash_points: crash_points(3) }
    }

    /// The soak `make test` runs: a few hundred orders, the same faults.
    pub fn short() -> Self {
        let workload = Workload {
            customers: 20,
            orders: 200,
            redeliveries: 15,
            concurrency: 4,
            settle_timeout: Duration::from_secs(300),
            show_progress: false,
            ..Workload::default()
        };
        Self { workload, fault_rate: 0.10, seed: 0x5EED, crash_points: crash_points(1) }
    }
}

/// How the soak deploys the mesh: consumer messages come back soon after a
/// crash (10 s visibility, the template's least), and a message must fail 10 times, not 3, before
/// it is taken for poison: under 10 % faults a message can be unlucky a few
/// times in a row (the poison this soak injects is parked on its first
/// receive, whatever the count).
///
/// The credit check's deadline is a day: the full soak's FIFO backlog keeps
/// orders waiting longer than the reference 5 minutes, and a credit answer
/// after its order timed out is rightly answered by nothing (only a late
/// reservation is, by a decline), which the one-effect-per-cause count would
/// flag. Deadlines are played by the saga's interleavings property test and
/// shown firing end to end by `reference_mesh.rs`.
pub fn deploy_options() -> DeployOptions {
    let parameters = [("CreditCheckTimeoutSeconds".to_owned(), "86400".to_owned())].into();
    DeployOptions {
        queue_visibility_timeout: 10,
        max_receive_count: 10,
        extra_parameters: parameters,
        ..DeployOptions::default()
    }
}

/// Every crash point, `times` crashes each, after a few calls went through:
/// relays killed after publishing and before returning, consumers killed
/// after their transaction and before their messages are deleted (often in
/// the middle of a batch).
pub fn crash_points(times: usize) -> Vec<CrashPoint> {
    let point = |function: &str, operation: &str, skip| CrashPoint {
        function: function.to_owned(),
        operation: operation.to_owned(),
        skip,
        times,
    };
    vec![
        point("orders-outbox-relay", "PublishBatch", 5),
        point("customers-outbox-relay", "PublishBatch", 5),
        point("customers-credit", "TransactWriteItems", 10),
        point("orders-saga", "TransactWriteItems", 10),
        point("analytics-sales", "TransactWriteItems", 10),
    ]
}

/// What one subscription taken in order ended with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderCheck {
    pub order: String,
    /// Entities with events of the subscribed types.
    pub entities: usize,
    /// Entities whose position is not their last subscribed event. Must be 0.
    pub behind: usize,
    /// Events applied after a later event of their entity. Must be 0.
    pub out_of_order: u64,
}

/// Events written, delivered and applied by one subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Events of the types it subscribes to, in the producer's outbox.
    pub expected: usize,
    /// Of those, the ones in the consumer's inbox (applied).
    pub applied: usize,
}

/// How many times something happened per event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub never: usize,
    pub once: usize,
    pub twice: usize,
    pub more: usize,
}

impl Spread {
    fn add(&mut self, count: usize) {
        match count {
            0 => self.never += 1,
            1 => self.once += 1,
            2 => self.twice += 1,
            _ => self.more += 1,
        }
    }

    fn total(&self) -> usize {
        self.never + self.once + self.twice + self.more
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SoakReport {
    pub orders: usize,
    pub fault_rate: f64,
    pub faults: FaultStats,
    /// Events in each domain's outbox.
    pub outbox_events: BTreeMap<String, usize>,
    /// Per subscription (`consumer ← producer/product`).
    pub delivered: BTreeMap<String, Delivery>,
    /// Outbox events missing from their product's stream, plus subscribed
    /// events missing from their consumer's inbox. Must be 0.
    pub lost: usize,
    /// Effects (events a consumer emitted in answer) per event that calls
    /// for exactly one. Must be exactly 1.000.
    pub effects_per_event: f64,
    pub effects: Spread,
    /// Records per event on the products' Kinesis streams: a relay that
    /// published and then failed publishes again.
    pub deliveries_per_event: Spread,
    /// Events that reached a stream after a later event of their entity.
    /// Must be 0.
    pub ordering_violations: usize,
    pub ordering_violations_by_stream: BTreeMap<String, usize>,
    /// Subscriptions with strict (FIFO) order in the mesh.
    pub fifo_subscriptions: usize,
    /// Per subscription taken in order (`order: sequence` or `strict`): the
    /// entity positions the platform kept. Their out-of-order applications
    /// count in `ordering_violations`.
    pub ordered: BTreeMap<String, OrderCheck>,
    /// The reasons of the messages in each DLQ and on-failure queue.
    pub dead_letters: BTreeMap<String, Vec<String>>,
    pub poison_injected: usize,
    /// Dead letters that are not poison the soak injected. Must be 0.
    pub unexpected_dead_letters: usize,
    /// The workload's own figures and business invariants.
    pub workload: Summary,
    pub elapsed_seconds: f64,
    pub violations: Vec<String>,
}

impl SoakReport {
    pub fn print(&self) {
        self.workload.print();
        let f = &self.faults;
        println!("\nSoak under faults");
        println!("  orders                         {}", self.orders);
        println!("  AWS calls through the proxy    {} ({} faults injected: {:?})", f.calls, f.injected(), f.faults);
        println!("  function processes killed     {}", f.crashes.len());
        for (domain, count) in &self.outbox_events {
            println!("  events written to {domain:<12} {count}");
        }
        for (subscription, d) in &self.delivered {
            println!("  {subscription:<38} {} of {} applied", d.applied, d.expected);
        }
        println!("  events lost                    {}", self.lost);
        let e = &self.effects;
        println!(
            "  side effects per event         {:.3} (none {}, once {}, twice {}, more {})",
            self.effects_per_event, e.never, e.once, e.twice, e.more
        );
        let d = &self.deliveries_per_event;
        println!("  stream records per event       once {}, twice {}, more {}", d.once, d.twice, d.more);
        println!(
            "  ordering violations            {} {:?}",
            self.ordering_violations, self.ordering_violations_by_stream
        );
        println!("  FIFO subscriptions             {}", self.fifo_subscriptions);
        for (subscription, o) in &self.ordered {
            println!(
                "  {subscription:<38} order {}: {} entities, {} positions behind, {} applied out of order",
                o.order, o.entities, o.behind, o.out_of_order
            );
        }
        for (queue, reasons) in &self.dead_letters {
            println!("  {queue:<30} {} messages", reasons.len());
            for reason in reasons {
                println!("    - {reason}");
            }
        }
        println!(
            "  poison injected                {} ({} unexpected dead letters)",
            self.poison_injected, self.unexpected_dead_letters
        );
        println!("  elapsed                        {:.1} s", self.elapsed_seconds);
        if self.violations.is_empty() {
            println!("\nNothing lost, nothing applied twice, order kept.");
        } else {
            println!("\nViolations:");
            for violation in &self.violations {
                println!("  - {violation}");
            }
        }
    }
}

/// Runs the soak against a deployed reference mesh whose functions call AWS
/// through `proxy`.
pub async fn run(
    client: &Client<'_>,
    observer: &Observer,
    proxy: &FaultProxy,
    soak: &Soak,
) -> anyhow::Result<SoakReport> {
    let started = Instant::now();
    let plan = FaultPlan::mixed(soak.fault_rate, soak.seed).with_crash_points(soak.crash_points.clone());
    proxy.set_plan(plan);
    let summary = workload::run(client, observer, &soak.workload).await;
    // The final drain: no more faults; whatever is still retrying lands.
    proxy.set_plan(FaultPlan::default());
    let mut summary = summary?;
    let endpoints = client.endpoints();
    workload::wait_for_quiet(observer, &endpoints.queues, &soak.workload).await?;

    let poison = inject_poison(client, observer).await?;
    let mut report = SoakReport {
        orders: soak.workload.orders,
        fault_rate: soak.fault_rate,
        poison_injected: poison.len(),
        ..SoakReport::default()
    };
    wait_for_dead_letters(client, observer, poison.len(), soak.workload.settle_timeout).await?;
    check_dead_letters(client, observer, &poison, &mut report).await?;
    check_events(client, observer, &mut report).await?;
    report.faults = proxy.stats();

    // The workload counted the DLQs before the poison; its other findings
    // stand, but for the orders not final: it counted them under faults, and
    // what the final drain (or an order's saga deadline) decided since is final.
    let early = summary.not_final_violation();
    summary.violations.retain(|v| !v.contains(" holds ") && Some(v) != early.as_ref());
    summary.tally(&observer.orders(&endpoints.orders_state_table).await?);
    summary.violations.extend(summary.not_final_violation());
    report.violations.extend(summary.violations.iter().cloned());
    report.workload = summary;
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Two poison messages per consumer queue: one that is not an envelope, one
/// of a type nobody consumes. Returns their bodies.
async fn inject_poison(client: &Client<'_>, observer: &Observer) -> anyhow::Result<HashSet<String>> {
    let mut bodies = HashSet::new();
    for (name, queue) in &client.endpoints().queues {
        let unknown = Envelope::new(
            "soak/poison",
            "SoakPoison",
            Uuid::now_v7().to_string(),
            1,
            serde_json::json!({ "queue": name }),
            &EventMeta::root(Uuid::now_v7()),
        );
        for (event_type, body) in
            [("OrderPlaced", format!("not an envelope ({name})")), ("SoakPoison", unknown.to_json()?)]
        {
            // Each poison message its own group: it blocks nothing on a FIFO queue.
            observer.send_to_queue(queue, &body, event_type, &Uuid::now_v7().to_string()).await?;
            bodies.insert(body);
        }
    }
    Ok(bodies)
}

async fn wait_for_dead_letters(
    client: &Client<'_>,
    observer: &Observer,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let mut parked = 0;
        for (_, url) in &client.endpoints().dead_letters {
            parked += observer.queue_depth(url).await? as usize;
        }
        if parked >= expected {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

async fn check_dead_letters(
    client: &Client<'_>,
    observer: &Observer,
    poison: &HashSet<String>,
    report: &mut SoakReport,
) -> anyhow::Result<()> {
    let mut parked_poison = 0;
    for (name, url) in &client.endpoints().dead_letters {
        let queue_name = url.rsplit('/').next().unwrap_or(url);
        let letters = dlq::list(observer.sqs(), queue_name, 1_000).await.map_err(anyhow::Error::msg)?;
        let mut reasons = Vec::new();
        for letter in letters {
            if poison.contains(&letter.body) {
                parked_poison += 1;
            } else {
                report.unexpected_dead_letters += 1;
            }
            reasons.push(letter.reason.unwrap_or_else(|| format!("(no reason) {}", letter.body)));
        }
        reasons.sort();
        report.dead_letters.insert(name.clone(), reasons);
    }
    if report.unexpected_dead_letters > 0 {
        report.violations.push(format!("{} dead letters the soak did not inject", report.unexpected_dead_letters));
    }
    if parked_poison != poison.len() {
        report.violations.push(format!("{parked_poison} of {} injected poison messages reached a DLQ", poison.len()));
    }
    Ok(())
}

/// Compares the positions a consumer's platform kept with the events it
/// should have applied: every entity ends at its last subscribed event.
pub fn order_check(order: &str, wanted: &[&Envelope], positions: &[&Position]) -> OrderCheck {
    let mut last: HashMap<&str, u64> = HashMap::new();
    for event in wanted {
        let entry = last.entry(event.subject.as_str()).or_default();
        *entry = (*entry).max(event.sequence);
    }
    let kept: HashMap<&str, u64> = positions.iter().map(|p| (p.subject.as_str(), p.sequence)).collect();
    OrderCheck {
        order: order.to_owned(),
        entities: last.len(),
        behind: last.iter().filter(|(subject, sequence)| kept.get(*subject) != Some(sequence)).count(),
        out_of_order: positions.iter().map(|p| p.out_of_order).sum(),
    }
}

/// Every event by id: outbox → stream → subscriptions → effects, and order.
async fn check_events(client: &Client<'_>, observer: &Observer, report: &mut SoakReport) -> anyhow::Result<()> {
    let endpoints = client.endpoints();
    let streams: HashMap<&str, &str> = HashMap::from([
        ("orders", endpoints.orders_stream.as_str()),
        ("customers", endpoints.customers_stream.as_str()),
    ]);
    let mut outboxes: HashMap<String, Vec<Envelope>> = HashMap::new();
    let mut logs: HashMap<String, Vec<Envelope>> = HashMap::new();
    for (domain, table) in &endpoints.outboxes {
        let written = observer.outbox(table).await?;
        report.outbox_events.insert(domain.clone(), written.len());
        let stream = streams.get(domain.as_str()).ok_or_else(|| anyhow::anyhow!("no stream for {domain}"))?;
        let log = observer.stream_events(stream).await?;
        let on_log: HashSet<Uuid> = log.iter().map(|e| e.id).collect();
        let missing = written.iter().filter(|e| !on_log.contains(&e.id)).count();
        if missing > 0 {
            report.violations.push(format!("{missing} events of the {domain} outbox never reached its stream"));
        }
        report.lost += missing;
        let violations = ordering_violations(&log);
        report.ordering_violations += violations;
        report.ordering_violations_by_stream.insert(domain.clone(), violations);
        outboxes.insert(domain.clone(), written);
        logs.insert(domain.clone(), log);
    }

    let mesh =
        load_mesh(&mesh_local::workspace_root()?).map_err(|problems| anyhow::anyhow!("descriptors: {problems:?}"))?;
    let inboxes: HashMap<&str, &str> = endpoints.inboxes.iter().map(|(d, t)| (d.as_str(), t.as_str())).collect();
    for consumer in mesh.domains.iter().map(|d| &d.descriptor) {
        let Some(table) = inboxes.get(consumer.domain.as_str()) else { continue };
        let (applied, positions) = observer.inbox_and_positions(table).await?;
        for subscription in &consumer.consumes {
            let producer = subscription.product.domain.as_str();
            let wanted: Vec<&Envelope> = outboxes
                .get(producer)
                .into_iter()
                .flatten()
                .filter(|e| subscription.events.contains(&e.event_type))
                .collect();
            let mut delivery = Delivery::default();
            for event in &wanted {
                delivery.expected += 1;
                delivery.applied += usize::from(applied.contains(&event.id));
            }
            let name = format!("{} ← {}", consumer.domain, subscription.product);
            if !subscription.order.is_any() {
                let source = subscription.product.to_string();
                let kept: Vec<&Position> = positions.iter().filter(|p| p.source == source).collect();
                let check = order_check(subscription.order.name(), &wanted, &kept);
                if check.behind > 0 || check.out_of_order > 0 {
                    report.violations.push(format!(
                        "{name} (order {}): {} entity positions behind, {} events applied out of order",
                        check.order, check.behind, check.out_of_order
                    ));
                }
                report.ordering_violations += check.out_of_order as usize;
                report.fifo_subscriptions += usize::from(subscription.order == Order::Strict);
                report.ordered.insert(name.clone(), check);
            }
            let missing = delivery.expected - delivery.applied;
            if missing > 0 {
                report
                    .violations
                    .push(format!("{} never applied {missing} events of {}", consumer.domain, subscription.product));
            }
            report.lost += missing;
            report.delivered.insert(name, delivery);
        }
    }

    let all: Vec<&Envelope> = logs.values().flatten().collect();
    report.deliveries_per_event = deliveries(&all);
    report.effects = effects(&all);
    let causes = report.effects.total();
    let effects = report.effects.once + 2 * report.effects.twice + 3 * report.effects.more;
    report.effects_per_event = if causes == 0 { 0.0 } else { effects as f64 / causes as f64 };
    let e = &report.effects;
    if e.never + e.twice + e.more > 0 {
        report.violations.push(format!(
            "effects per event: {} events had none, {} had two, {} had more (each must have exactly one)",
            e.never, e.twice, e.more
        ));
    }
    let on_streams: usize = report.ordering_violations_by_stream.values().sum();
    if on_streams > 0 {
        report.violations.push(format!("{on_streams} events reached a stream after a later event of their entity"));
    }
    Ok(())
}

/// Events that first appear on a stream after a later event of the same
/// entity. A repeat of an event already seen (a retried publish) is not a
/// violation: a consumer that keeps the entity's sequence drops it.
pub fn ordering_violations(stream: &[Envelope]) -> usize {
    let mut seen = HashSet::new();
    let mut highest: HashMap<&str, u64> = HashMap::new();
    let mut violations = 0;
    for event in stream {
        if !seen.insert(event.id) {
            continue;
        }
        let top = highest.entry(&event.subject).or_default();
        if event.sequence < *top {
            violations += 1;
        }
        *top = (*top).max(event.sequence);
    }
    violations
}

/// Records per unique event.
pub fn deliveries(records: &[&Envelope]) -> Spread {
    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for event in records {
        *counts.entry(event.id).or_default() += 1;
    }
    let mut spread = Spread::default();
    counts.into_values().for_each(|count| spread.add(count));
    spread
}

/// For every unique event that calls for one answer ([`ONE_EFFECT_EACH`]),
/// how many distinct events name it as their cause.
pub fn effects(records: &[&Envelope]) -> Spread {
    let mut answers: HashMap<Uuid, HashSet<Uuid>> = HashMap::new();
    for event in records {
        answers.entry(event.causation_id).or_default().insert(event.id);
    }
    let causes: HashSet<Uuid> =
        records.iter().filter(|e| ONE_EFFECT_EACH.contains(&e.event_type.as_str())).map(|e| e.id).collect();
    let mut spread = Spread::default();
    for cause in causes {
        spread.add(answers.get(&cause).map_or(0, HashSet::len));
    }
    spread
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(subject: &str, sequence: u64, event_type: &str, cause: Option<&Envelope>) -> Envelope {
        let meta = cause.map_or_else(|| EventMeta::root(Uuid::now_v7()), EventMeta::caused_by);
        Envelope::new("o/p", event_type, subject, sequence, json!({}), &meta)
    }

    #[test]
    fn reads_its_size_and_rate_or_says_which_setting_is_wrong() {
        let given = |pairs: &'static [(&str, &str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
        };
        let soak = Soak::from_settings(given(&[("SOAK_ORDERS", "500"), ("SOAK_FAULT_RATE", "0.25")])).unwrap();
        assert_eq!((soak.workload.orders, soak.fault_rate), (500, 0.25));
        assert_eq!(Soak::from_settings(given(&[])).unwrap().workload.orders, 10_000);
        assert_eq!(
            Soak::from_settings(given(&[("SOAK_ORDERS", "10k")])).err().unwrap(),
            "SOAK_ORDERS=\"10k\" is not a positive whole number of orders"
        );
        assert_eq!(
            Soak::from_settings(given(&[("SOAK_FAULT_RATE", "10")])).err().unwrap(),
            "SOAK_FAULT_RATE=\"10\" is not a fraction between 0 and 1 (0.1 = 10 %)"
        );
    }

    #[test]
    fn every_entity_must_end_at_its_last_subscribed_event() {
        let (a1, a3, b1) = (event("a", 1, "X", None), event("a", 3, "X", None), event("b", 1, "X", None));
        let position = |subject: &str, sequence, out_of_order| Position {
            source: "o/p".into(),
            subject: subject.into(),
            sequence,
            out_of_order,
        };
        let (a, b) = (position("a", 3, 0), position("b", 1, 0));
        let check = order_check("strict", &[&a1, &a3, &b1], &[&a, &b]);
        assert_eq!((check.entities, check.behind, check.out_of_order), (2, 0, 0));
        let (stuck, flagged) = (position("a", 1, 0), position("b", 1, 1));
        let check = order_check("strict", &[&a1, &a3, &b1], &[&stuck, &flagged]);
        assert_eq!((check.behind, check.out_of_order), (1, 1));
        assert_eq!(order_check("sequence", &[&a1], &[]).behind, 1);
    }

    #[test]
    fn a_repeated_event_is_no_ordering_violation_but_a_late_new_one_is() {
        let (a1, a2, b1) = (event("a", 1, "X", None), event("a", 2, "X", None), event("b", 1, "X", None));
        let retried = [a1.clone(), a2.clone(), b1.clone(), a1.clone(), a2.clone()];
        assert_eq!(ordering_violations(&retried), 0);
        let overtaken = [a2, b1, a1];
        assert_eq!(ordering_violations(&overtaken), 1);
    }

    #[test]
    fn counts_records_per_event() {
        let (a, b) = (event("a", 1, "X", None), event("b", 1, "X", None));
        let spread = deliveries(&[&a, &b, &a, &b, &b]);
        assert_eq!(spread, Spread { never: 0, once: 0, twice: 1, more: 1 });
    }

    #[test]
    fn finds_a_cause_with_no_effect_and_one_with_two() {
        let placed = [
            event("o1", 1, "OrderPlaced", None),
            event("o2", 1, "OrderPlaced", None),
            event("o3", 1, "OrderPlaced", None),
        ];
        let reserved = event("c", 1, "CreditReserved", Some(&placed[0]));
        let twice =
            [event("c", 2, "CreditReserved", Some(&placed[1])), event("c", 3, "CreditReserved", Some(&placed[1]))];
        let approved = event("o1", 2, "OrderApproved", Some(&reserved));
        let records: Vec<&Envelope> =
            placed.iter().chain([&reserved, &approved]).chain(&twice).chain([&reserved]).collect();

        let spread = effects(&records);

        // o1 → reserved → approved: once each; o2: twice; o3: none; the two
        // answers to o2 are themselves causes without an answer.
        assert_eq!(spread, Spread { never: 3, once: 2, twice: 1, more: 0 });
    }
}
