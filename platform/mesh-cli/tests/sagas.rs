//! `mesh sagas stuck` as a person sees it: what it prints and its exit
//! status, against a deployed domain answered by recorded AWS answers
//! (aws-smithy-mocks: the exact requests the command makes), and the
//! errors the command itself gives before any AWS call.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::types::{Output, Parameter, Stack, StackStatus};
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_scheduler::operation::get_schedule::{GetScheduleError, GetScheduleOutput};
use aws_sdk_scheduler::types::error::ResourceNotFoundException;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use chrono::{DateTime, TimeDelta, Utc};
use mesh_cli::commands::finish;
use mesh_cli::commands::sagas::{self, Asked, Clients, Report};
use mesh_infra::descriptor::{ProductRef, SagaDeadline};

const OLD: &str = "0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f";
const UNSCHEDULED: &str = "0194a6c3-0000-7000-8000-000000000002";
const SCHEDULED: &str = "0194a6c3-0000-7000-8000-000000000003";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-02T17:30:00Z").unwrap().to_utc()
}

/// The orders domain's deadline, as `domains/orders/domain.yaml` declares it.
fn credit_check() -> SagaDeadline {
    SagaDeadline {
        step: "credit-check".into(),
        starts_with: "OrderPlaced".into(),
        waits_for: ProductRef { domain: "customers".into(), product: "customer-credit".into() },
        timeout_seconds: 300,
        handler: "orders-saga".into(),
    }
}

/// `mesh-orders`, deployed with the credit check's timeout at 120 s.
fn stack(timeout: Option<&str>) -> Rule {
    let timeout = timeout.map(str::to_owned);
    mock!(aws_sdk_cloudformation::Client::describe_stacks)
        .match_requests(|r| r.stack_name() == Some("mesh-orders"))
        .then_output(move || {
            let output = |key: &str, value: &str| Output::builder().output_key(key).output_value(value).build();
            let mut stack = Stack::builder()
                .stack_name("mesh-orders")
                .stack_status(StackStatus::UpdateComplete)
                .outputs(output("StateTable", "mesh-orders-state"))
                .outputs(output("ScheduleGroupName", "mesh-orders"));
            if let Some(seconds) = &timeout {
                stack = stack.parameters(
                    Parameter::builder().parameter_key("CreditCheckTimeoutSeconds").parameter_value(seconds).build(),
                );
            }
            DescribeStacksOutput::builder().stacks(stack.build()).build()
        })
}

fn item(entity: &str, time: Option<&str>) -> std::collections::HashMap<String, AttributeValue> {
    let mut item = std::collections::HashMap::from([
        ("pk".to_owned(), AttributeValue::S(entity.to_owned())),
        ("last_event_type".to_owned(), AttributeValue::S("OrderPlaced".to_owned())),
    ]);
    if let Some(time) = time {
        item.insert("last_event_time".to_owned(), AttributeValue::S(time.to_owned()));
    }
    item
}

/// The state table in two pages: the orders waiting for their credit check
/// (the scan's filter leaves only those), one without its latest event's time.
fn state_table() -> [Rule; 2] {
    let asked = |r: &aws_sdk_dynamodb::operation::scan::ScanInput| {
        r.table_name() == Some("mesh-orders-state")
            && r.projection_expression() == Some("pk, last_event_type, last_event_time")
            && r.filter_expression() == Some("last_event_type = :starts_with")
            && r.expression_attribute_values().and_then(|v| v.get(":starts_with"))
                == Some(&AttributeValue::S("OrderPlaced".into()))
    };
    let first = mock!(aws_sdk_dynamodb::Client::scan)
        .match_requests(move |r| asked(r) && r.exclusive_start_key().is_none())
        .then_output(|| {
            ScanOutput::builder()
                .items(item(OLD, Some("2026-12-02T17:00:00.250Z")))
                .items(item(UNSCHEDULED, Some("2026-12-02T17:29:00.000Z")))
                .last_evaluated_key("pk", AttributeValue::S(UNSCHEDULED.into()))
                .build()
        });
    let second = mock!(aws_sdk_dynamodb::Client::scan)
        .match_requests(move |r| {
            asked(r)
                && r.exclusive_start_key().and_then(|k| k.get("pk")) == Some(&AttributeValue::S(UNSCHEDULED.into()))
        })
        .then_output(|| {
            ScanOutput::builder()
                .items(item(SCHEDULED, Some("2026-12-02T17:29:10.000Z")))
                .items(item("0194a6c3-0000-7000-8000-000000000004", None))
                .build()
        });
    [first, second]
}

/// The schedule group holds the deadline of [`SCHEDULED`] only.
fn schedules() -> Rule {
    mock!(aws_sdk_scheduler::Client::get_schedule)
        .match_requests(|r| r.group_name() == Some("mesh-orders"))
        .then_compute_response(|r| {
            if r.name() == Some(&format!("credit-check.{SCHEDULED}")) {
                MockResponse::Output(GetScheduleOutput::builder().name(r.name().unwrap_or_default()).build())
            } else {
                MockResponse::Error(GetScheduleError::ResourceNotFoundException(
                    ResourceNotFoundException::builder().message("Schedule not found").build().unwrap(),
                ))
            }
        })
}

async fn stuck(stack: &Rule, scans: &[Rule], schedules: &Rule, older_than: TimeDelta) -> Report {
    let clients = Clients {
        cloudformation: mock_client!(aws_sdk_cloudformation, [stack]),
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, scans),
        scheduler: mock_client!(aws_sdk_scheduler, RuleMode::MatchAny, [schedules]),
    };
    let deadlines = [credit_check()];
    let asked = Asked { domain: "orders", deadlines: &deadlines, prefix: "mesh", older_than, now: now() };
    sagas::check(&clients, &asked).await.unwrap()
}

#[tokio::test]
async fn lists_each_stuck_entity_oldest_first_then_fails_with_the_summary() {
    let (stack, scans, schedules) = (stack(Some("120")), state_table(), schedules());

    let report = stuck(&stack, &scans, &schedules, TimeDelta::zero()).await;

    assert_eq!(
        report.stdout(),
        format!(
            "{OLD} credit-check waits for customers/customer-credit since 2026-12-02T17:00:00Z (29m 59s): \
             past its deadline (due 2026-12-02T17:02:00Z, 28m ago)\n\
             {UNSCHEDULED} credit-check waits for customers/customer-credit since 2026-12-02T17:29:00Z (1m): \
             no deadline scheduled\n"
        ),
        "the deployed timeout (120 s), not the descriptor's (300 s)"
    );
    assert_eq!(
        report.notes,
        ["1 item(s) of mesh-orders-state whose latest event is OrderPlaced have no readable last_event_time: skipped"]
    );
    let verdict = report.verdict();
    assert_eq!(verdict.as_ref().unwrap_err().to_string(), "2 orders entities stuck in credit-check (of 3 waiting)");
    assert_eq!(finish(verdict), ExitCode::FAILURE);
    // Only the two entities whose deadline is ahead were looked up.
    assert_eq!(schedules.num_calls(), 2);
    assert_eq!(scans.iter().map(Rule::num_calls).collect::<Vec<_>>(), [1, 1]);
}

#[tokio::test]
async fn older_than_leaves_out_steps_just_started() {
    let (stack, scans, schedules) = (stack(Some("120")), state_table(), schedules());

    let report = stuck(&stack, &scans, &schedules, sagas::parse_duration("10m").unwrap()).await;

    assert_eq!(report.stuck().iter().map(|s| s.entity.as_str()).collect::<Vec<_>>(), [OLD]);
    assert_eq!(
        report.verdict().unwrap_err().to_string(),
        "1 orders entity stuck in credit-check (of 3 waiting, 1 for longer than 10m)"
    );
    assert_eq!(schedules.num_calls(), 0, "a deadline long past needs no look-up");
}

#[tokio::test]
async fn nothing_stuck_says_so_and_succeeds_with_the_descriptors_timeout_when_the_stack_has_none() {
    // With the descriptor's 300 s the old order is long past its deadline:
    // look only at the last minute, where every deadline is ahead.
    let scans = [
        mock!(aws_sdk_dynamodb::Client::scan)
            .then_output(|| ScanOutput::builder().items(item(SCHEDULED, Some("2026-12-02T17:29:10.000Z"))).build()),
        mock!(aws_sdk_dynamodb::Client::scan).then_output(|| ScanOutput::builder().build()),
    ];
    let (stack, schedules) = (stack(None), schedules());

    let report = stuck(&stack, &scans, &schedules, TimeDelta::zero()).await;

    assert_eq!(
        report.stdout(),
        "nothing stuck in credit-check: 1 orders entity waiting, each with its deadline ahead and scheduled\n"
    );
    assert_eq!(
        report.notes,
        ["stack mesh-orders has no parameter CreditCheckTimeoutSeconds: \
             using the descriptor's timeout_seconds (300) for credit-check"]
    );
    assert_eq!(report.steps[0].scan.old_enough[0].due.to_rfc3339(), "2026-12-02T17:34:10+00:00");
    assert_eq!(finish(report.verdict()), ExitCode::SUCCESS);
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mesh(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mesh")).arg("--root").arg(repository()).args(args).output().unwrap()
}

#[test]
fn a_domain_without_deadlines_or_no_domain_is_one_line_and_exit_status_1() {
    let output = mesh(&["sagas", "stuck", "customers"]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "customers declares no saga deadlines (saga.deadlines in domains/customers/domain.yaml): \
         none of its entities waits in a step\n"
    );

    let output = mesh(&["sagas", "stuck", "payments"]);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "no domain `payments` in the descriptors; the mesh's domains: analytics, customers, orders\n"
    );
}

#[test]
fn the_help_says_what_the_exit_status_means_and_a_bad_duration_is_refused() {
    let help = mesh(&["sagas", "stuck", "--help"]);
    assert!(
        String::from_utf8_lossy(&help.stdout)
            .contains("Exit status: 0 when nothing is stuck, 1 when an entity is (or the check could not run)."),
        "{}",
        String::from_utf8_lossy(&help.stdout)
    );

    let output = mesh(&["sagas", "stuck", "orders", "--older-than", "ten minutes"]);

    assert_eq!(output.status.code(), Some(2), "a usage error, as clap gives");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("`ten minutes` is not a duration like 90s, 10m, 2h or 1h30m"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
