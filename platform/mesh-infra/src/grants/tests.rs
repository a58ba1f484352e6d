//! The cross-stack check over what the reference mesh's descriptors
//! generate: it holds there, and each kind of mismatch is reported as one
//! line naming the stacks, the resources and the grant.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::templates::generate;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn mesh() -> Mesh {
    crate::descriptor::load_mesh(root()).unwrap()
}

/// The generated templates by file name, `edit` applied to the named one.
fn generated(edit: Option<(&str, &dyn Fn(String) -> String)>) -> (Mesh, Stacks) {
    let mesh = mesh();
    let mut texts: BTreeMap<_, _> = generate(&mesh).into_iter().map(|f| (f.path, f.text)).collect();
    if let Some((file, edit)) = edit {
        let path = std::path::PathBuf::from("infra").join(file);
        let text = texts.remove(&path).unwrap();
        texts.insert(path, edit(text));
    }
    let stacks = Stacks::parse(plan(&mesh), |s| texts.get(&s.template).cloned()).unwrap();
    (mesh, stacks)
}

fn findings(edit: Option<(&str, &dyn Fn(String) -> String)>) -> Vec<String> {
    let (mesh, stacks) = generated(edit);
    check(&mesh, &stacks).findings.into_iter().map(|f| f.0).collect()
}

#[test]
fn given_the_generated_templates_when_checked_then_every_grant_meets_its_need() {
    let (mesh, stacks) = generated(None);
    let report = check(&mesh, &stacks);
    assert_eq!(report.findings, [], "{:#?}", report.findings);
    assert_eq!((report.subscriptions, report.roles, report.queues_and_buckets, report.pii_grants), (3, 9, 8, 7));
}

#[test]
fn given_the_committed_templates_when_checked_then_nothing_is_found() {
    let mesh = mesh();
    let report = check(&mesh, &read(root(), &mesh).unwrap());
    assert_eq!(report.findings, []);
}

#[test]
fn given_a_key_policy_naming_the_standard_topic_for_a_fifo_subscription_when_checked_then_the_dropped_delivery_is_named()
 {
    // Today's bug before this check: the customers key let SNS use it for
    // order-events, while its strict subscription is fed by order-events.fifo.
    let revert =
        |text: String| text.replace("${Prefix}-orders-order-events-v2.fifo", "${Prefix}-orders-order-events-v2");
    let fifo = "orders-ports/OrderedTopic (arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${Prefix}-orders-order-events-v2.fifo)";
    assert_eq!(
        findings(Some(("customers-ports.yaml", &revert))),
        [
            format!(
                "customers-ports/DomainKey: the key policy does not let sns.amazonaws.com kms:Decrypt, kms:GenerateDataKey \
                 for {fifo}, which delivers to customers/OrderEventsQueue: SNS cannot encrypt the messages and drops them"
            ),
            format!(
                "customers-ports/DomainKey: the key policy does not let sns.amazonaws.com kms:Decrypt, kms:GenerateDataKey \
                 for {fifo}, which delivers to customers/OrderEventsDlq: SNS cannot encrypt the messages and drops them"
            ),
        ]
    );
}

#[test]
fn given_a_queue_policy_admitting_another_topic_when_checked_then_the_queue_and_topic_are_named() {
    let other =
        |text: String| text.replace("aws:SourceArn: !Ref CustomerCreditTopicArn", "aws:SourceArn: !Ref TopicArn");
    assert_eq!(
        findings(Some(("orders.yaml", &other))),
        [
            "orders/CustomerCreditQueue: no queue policy lets sns.amazonaws.com sqs:SendMessage from customers-ports/Topic \
             (arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${Prefix}-customers-customer-credit-v2): SNS cannot deliver to it",
            "orders/CustomerCreditDlq: no queue policy lets sns.amazonaws.com sqs:SendMessage from customers-ports/Topic \
             (arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${Prefix}-customers-customer-credit-v2): SNS cannot deliver to it",
        ]
    );
}

#[test]
fn given_a_consumer_role_without_its_queue_grant_when_checked_then_the_missing_receive_is_named() {
    let narrow = |text: String| text.replace("            - sqs:ReceiveMessage\n", "");
    let found = findings(Some(("analytics.yaml", &narrow)));
    assert_eq!(
        found,
        [
            "analytics/AnalyticsSalesRole: analytics/AnalyticsSalesFunction cannot sqs:ReceiveMessage on analytics/OrderEventsQueue \
          (arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Prefix}-analytics-order-events)"
        ]
    );
}

#[test]
fn given_a_role_with_a_grant_no_flow_uses_when_checked_then_the_extra_grant_is_named() {
    let widen = |text: String| {
        text.replacen(
            "            - dynamodb:GetItem\n            - dynamodb:PutItem\n",
            "            - dynamodb:GetItem\n            - dynamodb:PutItem\n            - dynamodb:DeleteItem\n",
            1,
        )
    };
    assert_eq!(
        findings(Some(("orders.yaml", &widen))),
        ["orders/OrdersSagaRole: statement State grants dynamodb:DeleteItem on orders/StateTable, which no flow of \
          orders/OrdersSagaFunction uses"]
    );
}

#[test]
fn given_a_scheduler_role_that_may_send_elsewhere_when_checked_then_the_extra_grant_is_named() {
    let widen = |text: String| {
        let delivery = "            - !GetAtt CustomerCreditQueue.Arn\n            - !GetAtt CustomerCreditDlq.Arn\n";
        text.replace(delivery, &format!("{delivery}            - !GetAtt RelayFailureQueue.Arn\n"))
    };
    assert_eq!(
        findings(Some(("orders.yaml", &widen))),
        ["orders/DeadlineSchedulerRole: statement DeliverDeadlines grants sqs:SendMessage on \
          arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Prefix}-orders-relay-failures, which no flow of \
          EventBridge Scheduler uses"]
    );
}

#[test]
fn given_a_role_that_may_publish_to_another_domains_topic_when_checked_then_the_extra_grant_is_named() {
    let widen = |text: String| {
        text.replace(
            "            - !Ref OrderedTopicArn\n",
            "            - !Ref OrderedTopicArn\n            - !Ref CustomerCreditTopicArn\n",
        )
    };
    assert_eq!(
        findings(Some(("orders.yaml", &widen))),
        ["orders/RelayRole: statement Topic grants sns:Publish on \
          arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${Prefix}-customers-customer-credit-v2, which no flow of \
          orders/RelayFunction uses"]
    );
}

#[test]
fn given_a_queue_whose_policy_allows_plain_http_when_checked_then_the_queue_is_named() {
    let allow = |text: String| text.replace("aws:SecureTransport: 'false'", "aws:SecureTransport: 'never'");
    let found = findings(Some(("analytics.yaml", &allow)));
    assert_eq!(
        found,
        [
            "analytics/OrderEventsDlq: no AWS::SQS::QueuePolicy denies sqs:ReceiveMessage without TLS (aws:SecureTransport false)",
            "analytics/OrderEventsQueue: no AWS::SQS::QueuePolicy denies sqs:ReceiveMessage without TLS (aws:SecureTransport false)",
        ]
    );
}

#[test]
fn given_a_reader_the_producers_key_policy_forgets_when_checked_then_the_unreadable_grant_is_named() {
    let forget = |text: String| {
        text.replace(
            "              - !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Prefix}-analytics-*\n",
            "",
        )
    };
    assert_eq!(
        findings(Some(("orders-ports.yaml", &forget))),
        [
            "orders-ports/DomainKey: analytics/AnalyticsSalesFunction cannot kms:Decrypt the data keys of orders/order-events \
          with orders-ports/DomainKey (the key policy refuses it), which it is granted (access.pii_readers): its handler \
          would see tokens only"
        ]
    );
}

#[test]
fn given_a_key_policy_letting_every_role_of_the_mesh_decrypt_when_checked_then_the_ungranted_reader_is_named() {
    let widen = |text: String| {
        text.replace(
            "aws:PrincipalArn: !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Prefix}-customers-*",
            "aws:PrincipalArn: !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Prefix}-*",
        )
    };
    assert_eq!(
        findings(Some(("customers-ports.yaml", &widen))),
        [
            "customers-ports/DomainKey: orders/OrdersSagaFunction may kms:Decrypt the data keys of customers/customer-credit \
          with customers-ports/DomainKey, which grants orders no PII (access.pii_readers)"
        ]
    );
}

#[test]
fn given_a_token_key_policy_without_a_producer_when_checked_then_its_functions_are_named() {
    let forget = |text: String| {
        text.replace("              - !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Prefix}-orders-*\n", "")
    };
    let role = |name: &str| {
        format!(
            "platform/TokenKey: the key policy does not let orders/{name}Role \
             (arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/${{Prefix}}-orders-{}-${{AWS::Region}}) \
             kms:GenerateMac, which protecting the PII of orders/order-events needs",
            name.to_ascii_lowercase().replace("orderssaga", "saga")
        )
    };
    assert_eq!(findings(Some(("platform.yaml", &forget))), [role("Api"), role("OrdersSaga")]);
}

#[test]
fn given_a_reader_role_denied_its_decrypt_when_checked_then_the_role_is_named() {
    let deny = |text: String| {
        text.replace(
            "- Sid: PiiReadOrderEvents\n            Effect: Allow",
            "- Sid: PiiReadOrderEvents\n            Effect: Deny",
        )
    };
    assert_eq!(
        findings(Some(("analytics.yaml", &deny))),
        ["analytics/AnalyticsSalesRole: analytics/AnalyticsSalesFunction cannot kms:Decrypt the data keys of \
          orders/order-events with orders-ports/DomainKey (its role does not allow it), which it is granted \
          (access.pii_readers): its handler would see tokens only"]
    );
}

const BUCKET: &str = "Resources:
  Archive:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub ${Prefix}-analytics-archive
";

const BUCKET_POLICY: &str = "
  ArchivePolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Archive
      PolicyDocument:
        Version: '2012-10-17'
        Statement:
        - Sid: DenyInsecureTransport
          Effect: Deny
          Principal: '*'
          Action: s3:*
          Resource:
          - !Sub arn:${AWS::Partition}:s3:::${Archive}
          - !Sub arn:${AWS::Partition}:s3:::${Archive}/*
          Condition:
            Bool:
              aws:SecureTransport: 'false'
";

#[test]
fn given_a_bucket_when_checked_then_only_a_tls_only_bucket_policy_satisfies_it() {
    let bare = |text: String| text.replace("Resources:\n", BUCKET);
    assert_eq!(
        findings(Some(("analytics.yaml", &bare))),
        ["analytics/Archive: no AWS::S3::BucketPolicy denies s3:GetObject without TLS (aws:SecureTransport false)"]
    );
    let guarded = |text: String| text.replace("Resources:\n", &format!("{BUCKET}{BUCKET_POLICY}"));
    assert_eq!(findings(Some(("analytics.yaml", &guarded))), Vec::<String>::new());
}
