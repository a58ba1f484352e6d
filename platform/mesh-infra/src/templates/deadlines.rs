//! Saga deadlines (`saga.deadlines`): the domain's schedule group, the role
//! EventBridge Scheduler delivers deadlines as, and what the relay needs to
//! ask for one when it publishes the event that starts a step.
//!
//! EventBridge Scheduler rather than a TTL item on the outbox stream:
//! DynamoDB deletes expired items "within a few days", too late for a
//! deadline of minutes; a one-time schedule fires on time.

use mesh::env;
use serde_norway::Value;

use super::cfn::{Template, arn, att, map, r, s, sub};
use super::iam::{Statement, key_use, service_role};
use super::params;
use crate::descriptor::{Descriptor, SagaDeadline, Subscription};

const GROUP: &str = "DeadlineScheduleGroup";
const ROLE: &str = "DeadlineSchedulerRole";

/// `<Step>TimeoutSeconds`: `credit-check` → `CreditCheckTimeoutSeconds`.
pub fn timeout_parameter(deadline: &SagaDeadline) -> String {
    format!("{}TimeoutSeconds", super::domain::subscription_stem(&deadline.step))
}

/// The name of the domain's schedule group.
pub fn group_name(domain: &str) -> String {
    format!("${{Prefix}}-{domain}")
}

/// One parameter per deadline, defaulting to the descriptor's timeout.
pub fn parameters(t: &mut Template, domain: &Descriptor) {
    for deadline in deadlines(domain) {
        params::number(
            t,
            &timeout_parameter(deadline),
            i64::from(deadline.timeout_seconds),
            (1, 31_536_000),
            &format!(
                "Seconds an entity may wait in step {} (for {}) before its deadline is delivered to {}.",
                deadline.step, deadline.waits_for, deadline.handler
            ),
        );
    }
}

/// What the relay needs to schedule the deadlines its events start.
pub struct RelayDeadlines {
    pub environment: Vec<(String, Value)>,
    pub statements: Vec<Statement>,
}

/// The group, the scheduler's role, and what the relay needs; nothing when
/// the domain has no deadline.
pub fn add(t: &mut Template, domain: &Descriptor, key_arn: &Value) -> Option<RelayDeadlines> {
    let deadlines = deadlines(domain);
    if deadlines.is_empty() {
        return None;
    }
    let name = &domain.domain;
    let queues: Vec<(&SagaDeadline, String)> = deadlines
        .iter()
        .filter_map(|d| subscription(domain, d).map(|c| (*d, super::domain::subscription_id(c))))
        .collect();
    t.resource(
        GROUP,
        Some("Deleting the group deletes the deadlines still waiting in it."),
        "AWS::Scheduler::ScheduleGroup",
        map([("Name", sub(group_name(name)))]),
    );
    let targets: Vec<Value> = queues
        .iter()
        .flat_map(|(_, id)| [att(&format!("{id}Queue"), "Arn"), att(&format!("{id}Dlq"), "Arn")])
        .collect();
    let delivery =
        [Statement::new("DeliverDeadlines", &["sqs:SendMessage"], targets), key_use(key_arn.clone(), &["sqs"])];
    t.resource(
        ROLE,
        Some(
            "EventBridge Scheduler sends each deadline to its handler's queue (and one it\n\
             cannot deliver to that queue's DLQ) as this role, for this account's schedules only.",
        ),
        "AWS::IAM::Role",
        service_role(
            &format!("${{Prefix}}-{name}-deadlines-${{AWS::Region}}"),
            &format!("EventBridge Scheduler: delivers the {name} domain's saga deadlines."),
            "scheduler.amazonaws.com",
            Some(map([("StringEquals", map([("aws:SourceAccount", sub("${AWS::AccountId}"))]))])),
            "deliver-deadlines",
            &delivery,
        ),
    );
    let environment = vec![
        (env::DEADLINES.to_owned(), rules(&queues)),
        (env::SCHEDULE_GROUP.to_owned(), r(GROUP)),
        (env::SCHEDULER_ROLE_ARN.to_owned(), att(ROLE, "Arn")),
    ];
    let statements = vec![
        Statement::new(
            "Deadlines",
            &["scheduler:CreateSchedule"],
            vec![arn("scheduler", &format!("schedule/{}/*", group_name(name)))],
        ),
        Statement::new("PassSchedulerRole", &["iam:PassRole"], vec![att(ROLE, "Arn")])
            .when(map([("StringEquals", map([("iam:PassedToService", s("scheduler.amazonaws.com"))]))])),
    ];
    t.output("ScheduleGroupName", "Name of the schedule group holding the saga deadlines.", r(GROUP));
    Some(RelayDeadlines { environment, statements })
}

/// `DEADLINES`: the rules as `mesh::deadline::DeadlineRule` reads them,
/// timeouts and queues filled in by CloudFormation.
fn rules(queues: &[(&SagaDeadline, String)]) -> Value {
    let rules: Vec<String> = queues
        .iter()
        .map(|(deadline, id)| {
            format!(
                r#"{{"step":"{}","starts_with":"{}","timeout_seconds":${{{}}},"queue":"${{{id}Queue.Arn}}","dead_letters":"${{{id}Dlq.Arn}}"}}"#,
                deadline.step,
                deadline.starts_with,
                timeout_parameter(deadline)
            )
        })
        .collect();
    sub(format!("[{}]", rules.join(",")))
}

fn deadlines(domain: &Descriptor) -> Vec<&SagaDeadline> {
    domain.saga.iter().flat_map(|saga| &saga.deadlines).collect()
}

/// The subscription whose queue a deadline is delivered to (`mesh validate`
/// refuses a deadline without one).
fn subscription<'a>(domain: &'a Descriptor, deadline: &SagaDeadline) -> Option<&'a Subscription> {
    domain.consumes.iter().find(|c| c.product == deadline.waits_for && c.handler == deadline.handler)
}
