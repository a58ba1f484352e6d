//! Secure by construction, checked over what the reference mesh's
//! descriptors generate (the same text CI compares with `infra/`).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mesh::metrics::{NAMESPACE as METRICS_NAMESPACE, OUTBOX_EVENT_AGE};
use serde_norway::Value;

use super::*;
use crate::plan::{Source, plan};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn templates() -> BTreeMap<String, Value> {
    let mesh = crate::descriptor::load_mesh(root()).unwrap();
    generate(&mesh)
        .into_iter()
        .map(|file| {
            let name = file.path.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_norway::from_str(&file.text).unwrap())
        })
        .collect()
}

fn resources<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| (id.as_str().unwrap(), &r["Properties"]))
        .collect()
}

/// `(tag, text)` of a short-form intrinsic such as `!GetAtt X.Arn`.
fn intrinsic(value: &Value) -> Option<(String, String)> {
    match value {
        Value::Tagged(tagged) => Some((tagged.tag.to_string(), tagged.value.as_str().unwrap_or_default().to_owned())),
        _ => None,
    }
}

fn get_att_target(value: &Value) -> Option<String> {
    match intrinsic(value)? {
        (tag, text) if tag == "!GetAtt" => text.split('.').next().map(str::to_owned),
        _ => None,
    }
}

fn statements(role: &Value) -> Vec<&Value> {
    role["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap())
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_sequence().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_committed_templates_are_what_the_descriptors_generate() {
    let mesh = crate::descriptor::load_mesh(root()).unwrap();
    let drift = check(root(), &generate(&mesh));
    assert!(drift.is_empty(), "run `make infra`: {drift:?}");
}

#[test]
fn every_function_has_a_role_of_its_own() {
    for (name, t) in templates() {
        let roles: BTreeSet<&str> = resources(&t, "AWS::IAM::Role").into_iter().map(|(id, _)| id).collect();
        let used: Vec<String> = resources(&t, "AWS::Lambda::Function")
            .into_iter()
            .map(|(id, f)| {
                get_att_target(&f["Role"]).unwrap_or_else(|| panic!("{name}: {id}'s role is not its stack's"))
            })
            .collect();
        let distinct: BTreeSet<&str> = used.iter().map(String::as_str).collect();
        assert_eq!(distinct.len(), used.len(), "{name}: two functions share a role: {used:?}");
        // The one role no function runs: EventBridge Scheduler's, to deliver deadlines.
        let functions_roles: BTreeSet<&str> = roles.into_iter().filter(|r| *r != "DeadlineSchedulerRole").collect();
        assert_eq!(distinct, functions_roles, "{name}: every role serves exactly one function");
    }
}

#[test]
fn roles_name_every_action_and_scope_every_resource() {
    for (name, t) in templates() {
        let own: BTreeSet<String> =
            t["Resources"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_owned()).collect();
        for (role_id, role) in resources(&t, "AWS::IAM::Role") {
            assert!(role.get("ManagedPolicyArns").is_none(), "{name}: {role_id} attaches managed policies");
            for statement in statements(role) {
                let sid = statement["Sid"].as_str().unwrap();
                let actions = strings(&statement["Action"]);
                for action in &actions {
                    assert!(!action.contains('*'), "{name}: {role_id}/{sid}: wildcard action {action}");
                }
                for resource in statement["Resource"].as_sequence().unwrap() {
                    match (intrinsic(resource).is_none().then(|| resource.as_str()).flatten(), intrinsic(resource)) {
                        // IAM cannot scope these: they apply to "*" only.
                        (Some("*"), _) => assert!(
                            actions == ["dynamodb:ListStreams"]
                                || actions == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                            "{name}: {role_id}/{sid}: {actions:?} on *"
                        ),
                        (Some(other), _) => panic!("{name}: {role_id}/{sid}: literal resource {other}"),
                        (None, Some((tag, text))) if tag == "!GetAtt" => {
                            let target = text.split('.').next().unwrap();
                            assert!(own.contains(target), "{name}: {role_id}/{sid}: {target} is not in this stack");
                        }
                        // Parameters holding this domain's own ports and key, the
                        // mesh's token key, the keys of the products whose PII it reads.
                        (None, Some((tag, text))) if tag == "!Ref" => {
                            assert!(
                                ["TopicArn", "OrderedTopicArn", "StreamArn"].contains(&text.as_str())
                                    || text.ends_with("KeyArn"),
                                "{name}: {role_id}/{sid}: !Ref {text}"
                            );
                        }
                        // ARNs built from names: always inside this mesh's prefix
                        // (but the account's Glue catalog, which Glue authorises
                        // every database and table call on as well).
                        (None, Some((tag, text))) if tag == "!Sub" => {
                            assert!(
                                text.ends_with(":catalog")
                                    || text.contains(":${Prefix}")
                                    || text.contains("/${Prefix}"),
                                "{name}: {role_id}/{sid}: {text} is not scoped to the mesh"
                            );
                        }
                        other => panic!("{name}: {role_id}/{sid}: unexpected resource {other:?}"),
                    }
                }
            }
        }
    }
}

/// What each role of the orders domain may do, as (statement, actions,
/// resources): a recorded expectation, so a widened grant is a reviewed diff.
#[test]
fn the_orders_roles_grant_exactly_what_their_code_calls() {
    let t = &templates()["orders.yaml"];
    let grants = |role: &str| -> Vec<String> {
        let role = resources(t, "AWS::IAM::Role").into_iter().find(|(id, _)| *id == role).unwrap().1;
        statements(role)
            .into_iter()
            .map(|s| {
                let resources: Vec<String> = s["Resource"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        intrinsic(r)
                            .map_or_else(|| r.as_str().unwrap().to_owned(), |(tag, text)| format!("{tag} {text}"))
                    })
                    .collect();
                format!(
                    "{}: {} on {}",
                    s["Sid"].as_str().unwrap(),
                    strings(&s["Action"]).join(","),
                    resources.join(",")
                )
            })
            .collect()
    };
    assert_eq!(
        grants("ApiRole"),
        [
            "Logs: logs:CreateLogStream,logs:PutLogEvents on !GetAtt ApiLogGroup.Arn",
            "Tracing: xray:PutTraceSegments,xray:PutTelemetryRecords on *",
            "State: dynamodb:GetItem,dynamodb:PutItem on !GetAtt StateTable.Arn",
            "Outbox: dynamodb:PutItem on !GetAtt OutboxTable.Arn",
            "DomainKey: kms:Decrypt,kms:GenerateDataKey on !Ref KeyArn",
            "PiiTokens: kms:GenerateMac on !Ref TokenKeyArn",
            "PiiSeal: kms:GenerateDataKey on !Ref KeyArn",
        ]
    );
    assert_eq!(
        grants("OrdersSagaRole"),
        [
            "Logs: logs:CreateLogStream,logs:PutLogEvents on !GetAtt OrdersSagaLogGroup.Arn",
            "Tracing: xray:PutTraceSegments,xray:PutTelemetryRecords on *",
            "State: dynamodb:GetItem,dynamodb:PutItem on !GetAtt StateTable.Arn",
            "Outbox: dynamodb:PutItem on !GetAtt OutboxTable.Arn",
            "Inbox: dynamodb:PutItem on !GetAtt InboxTable.Arn",
            "WriterSchemas: glue:GetSchemaVersion on \
             !Sub arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:registry/${Prefix}-customers,\
             !Sub arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:schema/${Prefix}-customers/*",
            "Queue: sqs:ReceiveMessage,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:ChangeMessageVisibility \
             on !GetAtt CustomerCreditQueue.Arn",
            "DeadLetters: sqs:GetQueueUrl,sqs:SendMessage on !GetAtt CustomerCreditDlq.Arn",
            "DomainKey: kms:Decrypt,kms:GenerateDataKey on !Ref KeyArn",
            // It writes order-events (PII) but reads customer-credit's PII
            // as tokens: no Decrypt on the customers' key.
            "PiiTokens: kms:GenerateMac on !Ref TokenKeyArn",
            "PiiSeal: kms:GenerateDataKey on !Ref KeyArn",
        ]
    );
    assert_eq!(
        grants("RelayRole"),
        [
            "Logs: logs:CreateLogStream,logs:PutLogEvents on !GetAtt RelayLogGroup.Arn",
            "Tracing: xray:PutTraceSegments,xray:PutTelemetryRecords on *",
            "OutboxStream: dynamodb:DescribeStream,dynamodb:GetRecords,dynamodb:GetShardIterator \
             on !GetAtt OutboxTable.StreamArn",
            "OutboxStreamList: dynamodb:ListStreams on *",
            "Topic: sns:Publish on !Ref TopicArn,!Ref OrderedTopicArn",
            "Stream: kinesis:PutRecords on !Ref StreamArn",
            "OnFailure: sqs:SendMessage on !GetAtt RelayFailureQueue.Arn",
            "DomainKey: kms:Decrypt,kms:GenerateDataKey on !Ref KeyArn",
            // The credit check's deadlines: only in the domain's group, and
            // only the scheduler's role, passed only to the scheduler.
            "Deadlines: scheduler:CreateSchedule on \
             !Sub arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${Prefix}-orders/*",
            "PassSchedulerRole: iam:PassRole on !GetAtt DeadlineSchedulerRole.Arn",
        ]
    );
    assert_eq!(
        grants("DeadlineSchedulerRole"),
        [
            "DeliverDeadlines: sqs:SendMessage on !GetAtt CustomerCreditQueue.Arn,!GetAtt CustomerCreditDlq.Arn",
            "DomainKey: kms:Decrypt,kms:GenerateDataKey on !Ref KeyArn",
        ]
    );
}

#[test]
fn a_deadline_is_scheduled_by_the_relay_and_delivered_by_the_scheduler_alone() {
    let t = &templates()["orders.yaml"];
    let role = &resource(t, "DeadlineSchedulerRole")["Properties"];
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"].as_str(), Some("scheduler.amazonaws.com"));
    assert_eq!(
        intrinsic(&trust["Condition"]["StringEquals"]["aws:SourceAccount"]).unwrap().1,
        "${AWS::AccountId}",
        "no other account's schedule may use it (the confused deputy)"
    );
    let role_name = intrinsic(&role["RoleName"]).unwrap().1;
    assert!(role_name.starts_with("${Prefix}-orders-"), "inside the key policy's pattern: {role_name}");
    let pass = statements(&resource(t, "RelayRole")["Properties"])
        .into_iter()
        .find(|s| s["Sid"] == "PassSchedulerRole")
        .unwrap();
    assert_eq!(pass["Condition"]["StringEquals"]["iam:PassedToService"].as_str(), Some("scheduler.amazonaws.com"));
    let relay = &resource(t, "RelayFunction")["Properties"];
    let rules = intrinsic(&relay["Environment"]["Variables"][mesh::env::DEADLINES]).unwrap().1;
    assert_eq!(
        rules,
        r#"[{"step":"credit-check","starts_with":"OrderPlaced","timeout_seconds":${CreditCheckTimeoutSeconds},"queue":"${CustomerCreditQueue.Arn}","dead_letters":"${CustomerCreditDlq.Arn}"}]"#
    );
    assert_eq!(t["Parameters"]["CreditCheckTimeoutSeconds"]["Default"].as_i64(), Some(300), "the descriptor's");
    assert_eq!(intrinsic(&resource(t, "DeadlineScheduleGroup")["Properties"]["Name"]).unwrap().1, "${Prefix}-orders");
    for domain in ["customers.yaml", "analytics.yaml"] {
        assert!(
            resources(&templates()[domain], "AWS::Scheduler::ScheduleGroup").is_empty(),
            "{domain} has no deadline"
        );
    }
}

#[test]
fn data_is_encrypted_with_the_domains_key_and_tables_recover_to_a_point_in_time() {
    for (name, t) in templates() {
        for (id, table) in resources(&t, "AWS::DynamoDB::Table") {
            let sse = &table["SSESpecification"];
            assert_eq!(sse["SSEEnabled"], Value::Bool(true), "{name}: {id}");
            assert_eq!(sse["SSEType"].as_str(), Some("KMS"), "{name}: {id}");
            assert!(intrinsic(&sse["KMSMasterKeyId"]).is_some(), "{name}: {id} uses the domain's key");
            assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], Value::Bool(true));
        }
        for (id, queue) in resources(&t, "AWS::SQS::Queue") {
            assert!(intrinsic(&queue["KmsMasterKeyId"]).is_some(), "{name}: {id}");
        }
        for (id, topic) in resources(&t, "AWS::SNS::Topic") {
            assert!(intrinsic(&topic["KmsMasterKeyId"]).is_some(), "{name}: {id}");
        }
        for (id, stream) in resources(&t, "AWS::Kinesis::Stream") {
            assert_eq!(stream["StreamEncryption"]["EncryptionType"].as_str(), Some("KMS"), "{name}: {id}");
            assert!(intrinsic(&stream["StreamEncryption"]["KeyId"]).is_some(), "{name}: {id}");
        }
    }
}

#[test]
fn every_failure_lands_in_a_queue_that_an_alarm_watches() {
    for (name, t) in templates() {
        let alarms = resources(&t, "AWS::CloudWatch::Alarm");
        let watched: BTreeSet<String> = alarms
            .iter()
            .flat_map(|(_, a)| a["Dimensions"].as_sequence().unwrap())
            .filter_map(|d| get_att_target(&d["Value"]))
            .collect();
        for (id, queue) in resources(&t, "AWS::SQS::Queue") {
            let role = queue["Tags"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|tag| tag["Key"].as_str() == Some("mesh:queue"))
                .and_then(|tag| tag["Value"].as_str())
                .unwrap_or_else(|| panic!("{name}: {id} has no mesh:queue tag"));
            match role {
                "subscription" => {
                    let dlq = get_att_target(&queue["RedrivePolicy"]["deadLetterTargetArn"]).unwrap();
                    assert!(watched.contains(&dlq), "{name}: {id}'s DLQ {dlq} has no alarm");
                }
                "dlq" | "on-failure" => assert!(watched.contains(id), "{name}: {id} has no alarm"),
                other => panic!("{name}: {id}: unknown queue role {other}"),
            }
        }
        for (id, mapping) in resources(&t, "AWS::Lambda::EventSourceMapping") {
            if mapping.get("StartingPosition").is_some() {
                let destination = get_att_target(&mapping["DestinationConfig"]["OnFailure"]["Destination"]);
                assert!(
                    destination.is_some_and(|d| watched.contains(&d)),
                    "{name}: {id} has no watched on-failure destination"
                );
                let function = intrinsic(&mapping["FunctionName"]).unwrap().1;
                let iterator_age = alarms.iter().any(|(_, a)| {
                    a["MetricName"].as_str() == Some("IteratorAge")
                        && a["Dimensions"][0]["Value"] == mapping["FunctionName"]
                });
                assert!(iterator_age, "{name}: no IteratorAge alarm on {function}");
            } else {
                assert_eq!(strings(&mapping["FunctionResponseTypes"]), ["ReportBatchItemFailures"], "{name}: {id}");
            }
        }
    }
}

#[test]
fn the_outbox_age_alarm_fires_past_the_products_freshness_promise() {
    let t = &templates()["orders.yaml"];
    let (_, alarm) =
        resources(t, "AWS::CloudWatch::Alarm").into_iter().find(|(id, _)| *id == "OutboxEventAgeAlarm").unwrap();
    assert_eq!(alarm["Namespace"].as_str(), Some(METRICS_NAMESPACE));
    assert_eq!(alarm["MetricName"].as_str(), Some(OUTBOX_EVENT_AGE));
    // domains/orders/domain.yaml promises freshness_seconds: 60.
    assert_eq!(alarm["Threshold"].as_u64(), Some(60_000));
}

#[test]
fn a_strict_subscription_gets_a_fifo_topic_queue_and_dlq() {
    let ports = &templates()["orders-ports.yaml"];
    let (_, topic) = resources(ports, "AWS::SNS::Topic").into_iter().find(|(id, _)| *id == "OrderedTopic").unwrap();
    assert_eq!(topic["FifoTopic"].as_bool(), Some(true));
    assert_eq!(intrinsic(&topic["TopicName"]).unwrap().1, "${Prefix}-orders-order-events-v2.fifo");
    let customers = &templates()["customers.yaml"];
    let queues = resources(customers, "AWS::SQS::Queue");
    let fifo: Vec<String> = queues
        .iter()
        .filter(|(_, q)| q["FifoQueue"].as_bool() == Some(true))
        .map(|(_, q)| intrinsic(&q["QueueName"]).unwrap().1)
        .collect();
    assert_eq!(fifo, ["${Prefix}-customers-order-events-dlq.fifo", "${Prefix}-customers-order-events.fifo"]);
    // The relay publishes to both topics; the standard subscribers are unchanged.
    let orders = &templates()["orders.yaml"];
    assert!(orders["Parameters"]["OrderedTopicArn"].is_mapping());
    assert!(templates()["customers-ports.yaml"]["Resources"].get("OrderedTopic").is_none());
    let analytics = &templates()["analytics.yaml"];
    assert!(resources(analytics, "AWS::SQS::Queue").iter().all(|(_, q)| q["FifoQueue"].is_null()));
}

#[test]
fn a_topic_accepts_subscriptions_only_from_granted_domains() {
    let t = &templates()["orders-ports.yaml"];
    let (_, policy) = resources(t, "AWS::SNS::TopicPolicy").into_iter().next().unwrap();
    let statement = &policy["PolicyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"].as_str(), Some("Deny"));
    let endpoints: Vec<String> = statement["Condition"]["StringNotEquals"]["sns:Endpoint"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| intrinsic(v).unwrap().1)
        .collect();
    assert_eq!(
        endpoints,
        [
            // customers takes the product in strict order: its queue is FIFO.
            "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Prefix}-customers-order-events.fifo",
            "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Prefix}-analytics-order-events",
        ]
    );
}

#[test]
fn subscriptions_deliver_only_the_consumed_event_types() {
    let t = &templates()["customers.yaml"];
    let (_, subscription) = resources(t, "AWS::SNS::Subscription").into_iter().next().unwrap();
    assert_eq!(
        strings(&subscription["FilterPolicy"]["type"]),
        ["OrderPlaced", "OrderCancelled", "OrderCreditDeclined"]
    );
    assert_eq!(subscription["RawMessageDelivery"], Value::Bool(true));
}

#[test]
fn names_routes_after_method_and_path() {
    assert_eq!(route_id("POST /orders/{id}/cancel"), "PostOrdersIdCancelRoute");
    assert_eq!(route_id("GET /customers/{id}"), "GetCustomersIdRoute");
}

#[test]
fn the_deployment_plan_wires_every_parameter_from_an_earlier_stack() {
    let mesh = crate::descriptor::load_mesh(root()).unwrap();
    let templates = templates();
    let mut deployed: Vec<String> = Vec::new();
    for stack in plan(&mesh) {
        let template = &templates[stack.template.file_name().unwrap().to_str().unwrap()];
        for (name, declaration) in template["Parameters"].as_mapping().unwrap() {
            let name = name.as_str().unwrap();
            let wired = stack.parameters.iter().any(|(p, _)| p == name);
            assert!(
                wired || declaration.get("Default").is_some(),
                "{}: {name} is neither wired nor defaulted",
                stack.name
            );
        }
        for (name, source) in &stack.parameters {
            assert!(template["Parameters"].get(name.as_str()).is_some(), "{}: wires undeclared {name}", stack.name);
            let from = match source {
                Source::Output { stack, key } => Some((stack, key)),
                // A setting of that name may take the output's place (another OIDC issuer).
                Source::SettingOr { setting, stack, key } => {
                    assert_eq!(setting, name, "{}: the setting is named after the parameter", stack);
                    Some((stack, key))
                }
                Source::Setting(_) => None,
            };
            if let Some((from, key)) = from {
                assert!(deployed.contains(from), "{}: {name} comes from {from}, deployed later", stack.name);
                let outputs = &templates[&format!("{from}.yaml")]["Outputs"];
                assert!(outputs.get(key.as_str()).is_some(), "{from} has no output {key}");
            }
        }
        deployed.push(stack.name);
    }
    assert_eq!(deployed.len(), 9);
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    t["Resources"].get(id).unwrap_or_else(|| panic!("no resource {id}"))
}

#[test]
fn every_route_takes_a_token_with_the_scope_its_descriptor_names() {
    let t = &templates()["orders.yaml"];
    let routes: Vec<(String, String, Vec<String>)> = resources(t, "AWS::ApiGatewayV2::Route")
        .into_iter()
        .map(|(_, p)| {
            assert_eq!(intrinsic(&p["AuthorizerId"]), Some(("!Ref".into(), "HttpApiJwtAuthorizer".into())));
            let kind = p["AuthorizationType"].as_str().unwrap().to_owned();
            (p["RouteKey"].as_str().unwrap().to_owned(), kind, strings(&p["AuthorizationScopes"]))
        })
        .collect();
    let jwt = |route: &str, scope: &str| (route.to_owned(), "JWT".to_owned(), vec![scope.to_owned()]);
    assert_eq!(
        routes,
        [
            jwt("POST /orders", "orders/write"),
            jwt("GET /orders/{id}", "orders/read"),
            jwt("POST /orders/{id}/cancel", "orders/write")
        ]
    );
    // The token's issuer and audience come from parameters: the identity
    // stack's outputs, or another issuer's.
    let authorizer = &resource(t, "HttpApiJwtAuthorizer")["Properties"];
    assert_eq!(authorizer["AuthorizerType"].as_str(), Some("JWT"));
    assert_eq!(strings(&authorizer["IdentitySource"]), ["$request.header.Authorization"]);
    assert_eq!(intrinsic(&authorizer["JwtConfiguration"]["Issuer"]).unwrap().1, "JwtIssuer");
    let audience: Vec<String> = authorizer["JwtConfiguration"]["Audience"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| intrinsic(a).unwrap().1)
        .collect();
    assert_eq!(audience, ["ReferenceClientClientId"]);
    assert!(templates()["analytics.yaml"]["Parameters"].get("JwtIssuer").is_none(), "no API, no issuer");
}

#[test]
fn the_identity_stack_gives_each_client_the_scopes_every_domain_grants_it_and_outputs_no_secret() {
    let t = &templates()["identity.yaml"];
    let servers: Vec<(String, Vec<String>)> = resources(t, "AWS::Cognito::UserPoolResourceServer")
        .into_iter()
        .map(|(_, p)| {
            let scopes = p["Scopes"].as_sequence().unwrap().iter().map(|s| s["ScopeName"].as_str().unwrap().to_owned());
            (p["Identifier"].as_str().unwrap().to_owned(), scopes.collect())
        })
        .collect();
    let pair = |domain: &str| (domain.to_owned(), vec!["write".to_owned(), "read".to_owned()]);
    assert_eq!(servers, [pair("customers"), pair("orders")]);
    let client = &resource(t, "ReferenceClientClient")["Properties"];
    assert_eq!(
        strings(&client["AllowedOAuthScopes"]),
        ["customers/write", "customers/read", "orders/write", "orders/read"]
    );
    assert_eq!(strings(&client["AllowedOAuthFlows"]), ["client_credentials"]);
    assert_eq!(client["GenerateSecret"], Value::Bool(true));
    assert_eq!(client["AllowedOAuthFlowsUserPoolClient"], Value::Bool(true));
    let outputs: BTreeSet<&str> = t["Outputs"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(
        outputs,
        BTreeSet::from(["UserPoolId", "UserPoolArn", "IssuerUrl", "TokenEndpoint", "ReferenceClientClientId"])
    );
    for (name, text) in generate(&crate::descriptor::load_mesh(root()).unwrap()).iter().map(|f| (&f.path, &f.text)) {
        assert!(!text.contains("ClientSecret"), "{}: a client secret must stay in Cognito", name.display());
    }
    assert!(
        intrinsic(&t["Outputs"]["IssuerUrl"]["Value"])
            .is_some_and(|(_, text)| text == "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}")
    );
}

#[test]
fn api_stages_are_throttled_and_log_every_request_as_json_with_the_domains_key() {
    let all = templates();
    for (file, rate, burst) in [("orders.yaml", 50, 100), ("customers.yaml", 100, 200)] {
        let t = &all[file];
        let stage = &resource(t, "HttpApiStage")["Properties"];
        // orders names its limits; customers gets the platform's default.
        let limits = &stage["DefaultRouteSettings"];
        assert_eq!(
            (limits["ThrottlingRateLimit"].as_u64(), limits["ThrottlingBurstLimit"].as_u64()),
            (Some(rate), Some(burst)),
            "{file}"
        );
        let logs = &stage["AccessLogSettings"];
        assert_eq!(get_att_target(&logs["DestinationArn"]).as_deref(), Some("HttpApiAccessLogGroup"), "{file}");
        let format: serde_json::Value = serde_json::from_str(logs["Format"].as_str().unwrap()).unwrap();
        for (key, variable) in [
            ("requestId", "$context.requestId"),
            ("routeKey", "$context.routeKey"),
            ("status", "$context.status"),
            ("authorizerError", "$context.authorizer.error"),
            ("integrationErrorMessage", "$context.integrationErrorMessage"),
            ("responseLatency", "$context.responseLatency"),
        ] {
            assert_eq!(format[key], variable, "{file}: {key}");
        }
        let group = &resource(t, "HttpApiAccessLogGroup")["Properties"];
        assert_eq!(intrinsic(&group["KmsKeyId"]).unwrap().1, "KeyArn", "{file}: the domain's key");
        assert!(group["RetentionInDays"].as_u64().is_some(), "{file}");
        let function = &resource(t, "ApiFunction")["Properties"];
        assert_eq!(intrinsic(&function["ReservedConcurrentExecutions"]).unwrap().0, "!If", "{file}");
        assert_eq!(t["Parameters"]["ApiReservedConcurrency"]["Default"].as_u64(), Some(20), "{file}");
    }
    assert_eq!(
        crate::descriptor::Throttling::DEFAULT,
        crate::descriptor::Throttling { rate_limit: 100, burst_limit: 200 }
    );
    // The key lets CloudWatch Logs use it for the access log, and for nothing else.
    let key = &resource(&all["orders-ports.yaml"], "DomainKey")["Properties"]["KeyPolicy"]["Statement"];
    let logs = key.as_sequence().unwrap().iter().find(|s| s["Sid"] == "LogsEncryptsTheLogGroups").unwrap();
    let contexts = sub_texts(&logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]);
    assert!(contexts.iter().any(|c| c.ends_with(":log-group:/aws/apigateway/${Prefix}-orders-access")), "{contexts:?}");
}

fn key_statements<'a>(t: &'a Value, key: &str) -> Vec<&'a Value> {
    t["Resources"][key]["Properties"]["KeyPolicy"]["Statement"].as_sequence().unwrap().iter().collect()
}

fn sub_texts(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items.iter().flat_map(sub_texts).collect(),
        other => intrinsic(other).map(|(_, text)| text).into_iter().collect(),
    }
}

#[test]
fn a_key_lets_sns_use_it_for_exactly_the_topics_that_deliver_to_its_queues() {
    let sns = |file: &str, key: &str| -> Vec<String> {
        let templates = templates();
        key_statements(&templates[file], key)
            .into_iter()
            .filter(|s| s["Principal"]["Service"].as_str() == Some("sns.amazonaws.com"))
            .flat_map(|s| sub_texts(&s["Condition"]["ArnEquals"]["aws:SourceArn"]))
            .collect()
    };
    let topic =
        |name: &str| format!("arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:${{Prefix}}-{name}");
    // customers takes order-events in strict order: through the FIFO topic.
    assert_eq!(sns("customers-ports.yaml", "DomainKey"), [topic("orders-order-events-v2.fifo")]);
    assert_eq!(sns("orders-ports.yaml", "DomainKey"), [topic("customers-customer-credit-v2")]);
    assert_eq!(sns("analytics.yaml", "DomainKey"), [topic("orders-order-events-v2")]);
    assert!(sns("platform.yaml", "PlatformKey").is_empty());
}

#[test]
fn the_account_administers_a_key_and_only_named_users_use_it() {
    const USE: [&str; 6] = [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:CreateGrant",
        "kms:GenerateMac",
    ];
    for (name, t) in templates() {
        for (id, _) in resources(&t, "AWS::KMS::Key") {
            for statement in key_statements(&t, id) {
                let sid = statement["Sid"].as_str().unwrap();
                let actions = strings(&statement["Action"]);
                assert!(actions.iter().all(|a| !a.contains('*')), "{name}: {id}/{sid}: a wildcard action");
                let uses = actions.iter().any(|a| USE.contains(&a.as_str()));
                // Whoever may use the key is narrowed by a condition: a role
                // pattern, a service it goes through, a topic, a log group.
                assert_eq!(uses, statement.get("Condition").is_some(), "{name}: {id}/{sid}: {actions:?}");
            }
        }
    }
    let customers = &templates()["customers-ports.yaml"];
    let roles: Vec<String> = key_statements(customers, "DomainKey")
        .into_iter()
        .flat_map(|s| sub_texts(&s["Condition"]["ArnLike"]["aws:PrincipalArn"]))
        .collect();
    assert_eq!(roles, ["arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Prefix}-customers-*"]);
}

/// PII: producers derive tokens from the mesh's one token key and seal
/// under their own key; only the granted readers may unwrap a product's
/// data keys, and only that product's (key policy and role, both).
#[test]
fn pii_keys_serve_the_producers_and_exactly_the_granted_readers() {
    let all = templates();
    let role = |domain: &str| format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/${{Prefix}}-{domain}-*");
    let policy = |file: &str, key: &str, sid: &str| -> Option<Value> {
        key_statements(&all[file], key).into_iter().find(|s| s["Sid"] == sid).cloned()
    };
    let token = policy("platform.yaml", "TokenKey", "PiiProducersDeriveTheirTokenKey").unwrap();
    assert_eq!(strings(&token["Action"]), ["kms:GenerateMac"]);
    assert_eq!(sub_texts(&token["Condition"]["ArnLike"]["aws:PrincipalArn"]), [role("customers"), role("orders")]);
    assert_eq!(all["platform.yaml"]["Resources"]["TokenKey"]["Properties"]["KeySpec"].as_str(), Some("HMAC_256"));

    let readers = policy("orders-ports.yaml", "DomainKey", "PiiReadersOfOrderEvents").unwrap();
    assert_eq!(strings(&readers["Action"]), ["kms:Decrypt"]);
    assert_eq!(sub_texts(&readers["Condition"]["ArnLike"]["aws:PrincipalArn"]), [role("customers"), role("analytics")]);
    assert_eq!(
        readers["Condition"]["StringEquals"]["kms:EncryptionContext:mesh:product"].as_str(),
        Some("orders/order-events")
    );
    // customer-credit grants nobody its PII: no reader statement at all.
    assert!(policy("customers-ports.yaml", "DomainKey", "PiiReadersOfCustomerCredit").is_none());

    let function = |file: &str, id: &str| all[file]["Resources"][id]["Properties"].clone();
    let settings = |file: &str, id: &str, name: &str| function(file, id)["Environment"]["Variables"][name].clone();
    for (file, id) in [
        ("orders.yaml", "ApiFunction"),
        ("orders.yaml", "OrdersSagaFunction"),
        ("customers.yaml", "ApiFunction"),
        ("customers.yaml", "CustomersCreditFunction"),
    ] {
        assert_eq!(intrinsic(&settings(file, id, mesh::env::TOKEN_KEY_ARN)).unwrap().1, "TokenKeyArn", "{file}: {id}");
        assert_eq!(intrinsic(&settings(file, id, mesh::env::SEALING_KEY_ARN)).unwrap().1, "KeyArn", "{file}: {id}");
    }
    assert_eq!(
        settings("analytics.yaml", "AnalyticsSalesFunction", mesh::env::PII_READS).as_str(),
        Some("orders/order-events")
    );
    assert_eq!(
        settings("customers.yaml", "CustomersCreditFunction", mesh::env::PII_READS).as_str(),
        Some("orders/order-events")
    );
    assert!(settings("orders.yaml", "OrdersSagaFunction", mesh::env::PII_READS).is_null());
    assert!(all["orders.yaml"]["Parameters"].get("CustomerCreditKeyArn").is_none());

    let read = resource(&all["analytics.yaml"], "AnalyticsSalesRole")["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "PiiReadOrderEvents")
        .cloned()
        .unwrap();
    assert_eq!(strings(&read["Action"]), ["kms:Decrypt"]);
    assert_eq!(intrinsic(&read["Resource"][0]).unwrap().1, "OrderEventsKeyArn");
    assert_eq!(
        read["Condition"]["StringEquals"]["kms:EncryptionContext:mesh:product"].as_str(),
        Some("orders/order-events")
    );
}

#[test]
fn every_role_is_named_after_its_function_within_its_domains_pattern() {
    for (name, t) in templates() {
        for (id, function) in resources(&t, "AWS::Lambda::Function") {
            let function_name = intrinsic(&function["FunctionName"]).unwrap().1;
            let role = get_att_target(&function["Role"]).unwrap();
            let role_name = intrinsic(&t["Resources"][role.as_str()]["Properties"]["RoleName"]).unwrap().1;
            assert_eq!(role_name, format!("{function_name}-${{AWS::Region}}"), "{name}: {id}");
            let domain = name.trim_end_matches(".yaml");
            if domain != "platform" {
                assert!(role_name.starts_with(&format!("${{Prefix}}-{domain}-")), "{name}: {role_name}");
            }
        }
    }
}

#[test]
fn functions_are_traced_and_log_to_encrypted_groups_that_expire() {
    for (name, t) in templates() {
        for (id, function) in resources(&t, "AWS::Lambda::Function") {
            assert_eq!(function["TracingConfig"]["Mode"].as_str(), Some("Active"), "{name}: {id}");
        }
        for (id, group) in resources(&t, "AWS::Logs::LogGroup") {
            assert!(intrinsic(&group["KmsKeyId"]).is_some(), "{name}: {id} is not encrypted with a key of ours");
            // An API's access log is kept longer: it is the record of who called.
            let days = if id == "HttpApiAccessLogGroup" { 90 } else { 14 };
            assert_eq!(group["RetentionInDays"].as_u64(), Some(days), "{name}: {id}");
        }
    }
    let platform = &templates()["platform.yaml"];
    assert_eq!(
        intrinsic(&platform["Resources"]["RegistrarLogGroup"]["Properties"]["KmsKeyId"]).unwrap().1,
        "PlatformKey.Arn"
    );
}

#[test]
fn a_subscription_redrives_to_its_dlq_which_only_its_topic_may_fill() {
    let t = &templates()["customers.yaml"];
    let (_, subscription) = resources(t, "AWS::SNS::Subscription").into_iter().next().unwrap();
    assert_eq!(
        get_att_target(&subscription["RedrivePolicy"]["deadLetterTargetArn"]).as_deref(),
        Some("OrderEventsDlq")
    );
    let policy = &t["Resources"]["OrderEventsDlqPolicy"]["Properties"];
    let allow = &policy["PolicyDocument"]["Statement"][0];
    assert_eq!(allow["Principal"]["Service"].as_str(), Some("sns.amazonaws.com"));
    assert_eq!(intrinsic(&allow["Condition"]["ArnEquals"]["aws:SourceArn"]).unwrap().1, "OrderEventsTopicArn");
    let lost = &t["Resources"]["OrderEventsDeliveryLostAlarm"]["Properties"];
    assert_eq!(lost["MetricName"].as_str(), Some("NumberOfNotificationsFailedToRedriveToDlq"));
}

#[test]
fn every_queue_refuses_plain_http_to_everyone() {
    for (name, t) in templates() {
        let policies = resources(&t, "AWS::SQS::QueuePolicy");
        for (id, _) in resources(&t, "AWS::SQS::Queue") {
            let (policy_id, policy) = policies
                .iter()
                .find(|(_, p)| p["Queues"].as_sequence().unwrap().iter().any(|q| intrinsic(q).unwrap().1 == id))
                .unwrap_or_else(|| panic!("{name}: {id} has no queue policy"));
            let deny = policy["PolicyDocument"]["Statement"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|s| s["Effect"].as_str() == Some("Deny"))
                .unwrap_or_else(|| panic!("{name}: {policy_id} denies nothing"));
            assert_eq!(deny["Principal"].as_str(), Some("*"));
            assert_eq!(deny["Action"].as_str(), Some("sqs:*"));
            assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"].as_str(), Some("false"));
            assert_eq!(get_att_target(&deny["Resource"][0]).as_deref(), Some(id), "{name}: {policy_id}");
        }
    }
}

#[test]
fn a_bucket_policy_gets_the_same_tls_statement_for_the_bucket_and_its_objects() {
    let bucket = cfn::sub("arn:${AWS::Partition}:s3:::${Bucket}");
    let objects = cfn::sub("arn:${AWS::Partition}:s3:::${Bucket}/*");
    let deny = cfn::deny_insecure_transport("s3", vec![bucket, objects]);
    assert_eq!(deny["Action"].as_str(), Some("s3:*"));
    assert_eq!(sub_texts(&deny["Resource"]).len(), 2);
    assert_eq!(deny["Condition"]["Bool"]["aws:SecureTransport"].as_str(), Some("false"));
}

#[test]
fn consumers_reserve_the_concurrency_their_queues_may_use() {
    let t = &templates()["customers.yaml"];
    let credit = &t["Resources"]["CustomersCreditFunction"]["Properties"];
    let mapping = &t["Resources"]["OrderEventsEventSourceMapping"]["Properties"];
    assert_eq!(credit["ReservedConcurrentExecutions"], mapping["ScalingConfig"]["MaximumConcurrency"]);
    assert!(t["Resources"]["RelayFunction"]["Properties"].get("ReservedConcurrentExecutions").is_none());
}
