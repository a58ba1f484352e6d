//! The Guard rules hold on every generated template, and each rule fails,
//! naming what is wrong, on a template that breaks it.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use mesh_cli::commands::guard::{RULES, evaluate};
use serde_norway::{Mapping, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template(name: &str) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(root().join("infra").join(name)).unwrap()).unwrap()
}

fn properties<'a>(t: &'a mut Value, id: &str) -> &'a mut Mapping {
    t["Resources"][id]["Properties"].as_mapping_mut().unwrap()
}

/// The role's first statement after its logs and traces.
fn first_statement<'a>(t: &'a mut Value, role: &str) -> &'a mut Mapping {
    t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][2].as_mapping_mut().unwrap()
}

/// The statement `sid` of `role`'s policy.
fn statement<'a>(t: &'a mut Value, role: &str, sid: &str) -> &'a mut Mapping {
    let statements = t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].as_sequence_mut();
    statements.unwrap().iter_mut().find(|s| s["Sid"] == sid).unwrap().as_mapping_mut().unwrap()
}

/// The rules that fail on `broken` (written to a scratch file).
fn failures(name: &str, broken: &Value) -> Vec<(String, Vec<String>)> {
    let dir = std::env::temp_dir().join(format!("mesh-guard-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, serde_norway::to_string(broken).unwrap()).unwrap();
    let verdicts = evaluate(&root().join(RULES), &[path]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    verdicts.into_iter().flat_map(|v| v.failed).collect()
}

#[test]
fn every_generated_template_satisfies_every_rule() {
    let templates: Vec<PathBuf> = std::fs::read_dir(root().join("infra"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert_eq!(templates.len(), 9, "platform, identity, 2 ports, 2 catalogs, 3 domains");
    let verdicts = evaluate(&root().join(RULES), &templates).unwrap();
    assert_eq!(verdicts.len(), templates.len());
    for verdict in &verdicts {
        assert!(verdict.failed.is_empty(), "{}: {:?}", verdict.template, verdict.failed);
    }
    // Every rule applies to at least one template: none is vacuous.
    let applied: std::collections::BTreeSet<&String> = verdicts.iter().flat_map(|v| &v.passed).collect();
    let all: std::collections::BTreeSet<&String> =
        verdicts.iter().flat_map(|v| v.passed.iter().chain(&v.not_applicable)).collect();
    assert_eq!(applied, all, "rules that never apply");
    assert_eq!(all.len(), 22);
}

#[test]
fn each_rule_fails_on_a_template_that_breaks_it() {
    type Break = fn(&mut Value);
    let cases: &[(&str, &str, &str, Break)] = &[
        ("orders.yaml", "tables_encrypted_with_a_customer_key_and_recoverable", "KMSMasterKeyId", |t| {
            t["Resources"]["StateTable"]["Properties"]["SSESpecification"]
                .as_mapping_mut()
                .unwrap()
                .remove("KMSMasterKeyId");
        }),
        ("orders.yaml", "tables_encrypted_with_a_customer_key_and_recoverable", "PointInTimeRecoveryEnabled", |t| {
            t["Resources"]["OutboxTable"]["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] =
                false.into();
        }),
        ("orders.yaml", "queues_encrypted_with_a_customer_key", "KmsMasterKeyId", |t| {
            let queue = properties(t, "CustomerCreditQueue");
            queue.remove("KmsMasterKeyId");
            queue.insert("SqsManagedSseEnabled".into(), true.into());
        }),
        ("orders-ports.yaml", "topics_encrypted_with_a_customer_key", "KmsMasterKeyId", |t| {
            properties(t, "Topic").remove("KmsMasterKeyId");
        }),
        ("orders-ports.yaml", "streams_encrypted_with_a_customer_key", "StreamEncryption", |t| {
            properties(t, "Stream").remove("StreamEncryption");
        }),
        ("orders-ports.yaml", "keys_rotate_and_outlive_their_stack", "EnableKeyRotation", |t| {
            properties(t, "DomainKey").insert("EnableKeyRotation".into(), false.into());
        }),
        ("orders.yaml", "subscription_queues_have_a_dlq", "RedrivePolicy", |t| {
            properties(t, "CustomerCreditQueue").remove("RedrivePolicy");
        }),
        ("orders.yaml", "every_queue_has_a_role", "mesh:queue", |t| {
            properties(t, "RelayFailureQueue").remove("Tags");
        }),
        ("orders.yaml", "stream_mappings_have_an_on_failure_destination", "DestinationConfig", |t| {
            properties(t, "RelayEventSourceMapping").remove("DestinationConfig");
        }),
        ("orders.yaml", "queue_mappings_report_item_failures", "FunctionResponseTypes", |t| {
            properties(t, "CustomerCreditEventSourceMapping").remove("FunctionResponseTypes");
        }),
        ("orders.yaml", "dead_letter_queues_are_watched", "ApproximateNumberOfMessagesVisible", |t| {
            let resources = t["Resources"].as_mapping_mut().unwrap();
            resources.remove("CustomerCreditDlqDepthAlarm");
            resources.remove("RelayFailuresAlarm");
        }),
        ("orders.yaml", "outboxes_are_watched", "OutboxEventAge", |t| {
            t["Resources"].as_mapping_mut().unwrap().remove("OutboxEventAgeAlarm");
        }),
        ("orders.yaml", "roles_name_their_actions", "dynamodb:*", |t| {
            first_statement(t, "ApiRole").insert("Action".into(), Value::Sequence(vec!["dynamodb:*".into()]));
        }),
        ("orders.yaml", "roles_name_their_actions", "iam:PassRole", |t| {
            statement(t, "RelayRole", "PassSchedulerRole").remove("Condition");
        }),
        ("orders.yaml", "roles_name_their_actions", "iam:PassRole", |t| {
            let pass = statement(t, "RelayRole", "PassSchedulerRole");
            pass.insert("Action".into(), Value::Sequence(vec!["iam:PassRole".into(), "iam:CreateRole".into()]));
        }),
        ("orders.yaml", "roles_name_their_resources", "*", |t| {
            first_statement(t, "ApiRole").insert("Resource".into(), Value::Sequence(vec!["*".into()]));
        }),
        ("orders.yaml", "roles_use_inline_policies_only", "ManagedPolicyArns", |t| {
            properties(t, "ApiRole").insert(
                "ManagedPolicyArns".into(),
                Value::Sequence(vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()]),
            );
        }),
        ("orders.yaml", "routes_say_who_may_call_them", "AuthorizationType", |t| {
            properties(t, "PostOrdersRoute").remove("AuthorizationType");
        }),
        ("customers.yaml", "routes_say_who_may_call_them", "AuthorizationType", |t| {
            properties(t, "GetCustomersIdRoute").insert("AuthorizationType".into(), "NONE".into());
        }),
        ("orders.yaml", "jwt_routes_name_their_authorizer_and_scopes", "AuthorizationScopes", |t| {
            properties(t, "GetOrdersIdRoute").remove("AuthorizationScopes");
        }),
        ("orders.yaml", "api_stages_are_throttled_and_logged", "AccessLogSettings", |t| {
            properties(t, "HttpApiStage").remove("AccessLogSettings");
        }),
        ("customers.yaml", "api_stages_are_throttled_and_logged", "DefaultRouteSettings", |t| {
            properties(t, "HttpApiStage").remove("DefaultRouteSettings");
        }),
        ("orders.yaml", "functions_run_with_a_role_of_their_stack", "Role", |t| {
            properties(t, "ApiFunction").insert("Role".into(), "arn:aws:iam::123456789012:role/shared".into());
        }),
        ("orders.yaml", "functions_are_traced", "TracingConfig", |t| {
            properties(t, "RelayFunction").remove("TracingConfig");
        }),
        ("platform.yaml", "log_groups_encrypted_with_a_customer_key_and_expire", "KmsKeyId", |t| {
            properties(t, "RegistrarLogGroup").remove("KmsKeyId");
        }),
        ("orders.yaml", "subscriptions_redrive_what_they_cannot_deliver", "RedrivePolicy", |t| {
            properties(t, "CustomerCreditSubscription").remove("RedrivePolicy");
        }),
        ("orders.yaml", "queue_policies_deny_insecure_transport", "aws:SecureTransport", |t| {
            t["Resources"]["RelayFailureQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]["Condition"] =
                serde_norway::from_str("{Bool: {'aws:SecureTransport': 'true'}}").unwrap();
        }),
    ];
    for (file, rule, named, break_it) in cases {
        let mut broken = template(file);
        break_it(&mut broken);
        let failed = failures(file, &broken);
        let found = failed.iter().find(|(r, _)| r == rule);
        let (_, messages) =
            found.unwrap_or_else(|| panic!("breaking {named} in {file} should fail {rule}; failed: {failed:?}"));
        assert!(
            messages.iter().any(|m| m.contains(named) || m.contains("/Resources/")),
            "{rule}: Guard's messages should say what is wrong: {messages:?}"
        );
        assert_eq!(failed.len(), 1, "breaking {named} should fail {rule} only, failed: {failed:?}");
    }
}
