//! Stack deployment and verification against the emulator, with small
//! templates of their own (no function build): a failed stack names its
//! failed resources and why, a resource gone from its service is reported
//! missing, and a template parameter the harness cannot fill is refused
//! before any call.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use mesh_local::{Emulator, HarnessError, deploy_stack, verify_stack_resources};

const GOOD: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Prefix: {Type: String}
  Unused: {Type: String, Default: x}
Resources:
  Outbox:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub '${Prefix}-outbox'
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      StreamSpecification: {StreamViewType: NEW_IMAGE}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub '${Prefix}-queue'
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub '${Prefix}-topic'
  Subscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Queue.Arn
  Stream:
    Type: AWS::Kinesis::Stream
    Properties:
      Name: !Sub '${Prefix}-stream'
      ShardCount: 1
Outputs:
  QueueUrl: {Value: !Ref Queue}
  OutboxTable: {Value: !Ref Outbox}
"#;

const BAD: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Prefix: {Type: String}
Resources:
  Fine:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub '${Prefix}-fine'
  Broken:
    Type: AWS::SQS::Queue
    Properties:
      # Refused by AWS, MiniStack and LocalStack alike (LocalStack takes any
      # VisibilityTimeout): a FIFO queue's name ends with `.fifo`.
      QueueName: !Sub '${Prefix}-broken'
      FifoQueue: true
"#;

fn write_template(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mesh-local-stacks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, body).expect("template written");
    path
}

fn prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stacks_are_deployed_verified_and_their_failures_explained() {
    let emulator = Emulator::start().await.expect("the emulator starts");
    let timeout = Duration::from_secs(120);
    let good = write_template("good.yaml", GOOD);
    let bad = write_template("bad.yaml", BAD);

    // A declared parameter without a default and without a value: refused up front.
    let refused = deploy_stack(&emulator, &format!("{}-x", prefix()), &good, &BTreeMap::new(), timeout).await;
    assert!(
        matches!(&refused, Err(HarnessError::Template { message, .. }) if message.contains("Prefix")),
        "{refused:?}"
    );

    // The good stack deploys, exposes its outputs and verifies clean.
    let p = prefix();
    let params = BTreeMap::from([("Prefix".to_owned(), p.clone())]);
    let stack = format!("{p}-good");
    let outputs = deploy_stack(&emulator, &stack, &good, &params, timeout).await.expect("good stack");
    assert_eq!(outputs.output("OutboxTable").expect("OutboxTable"), format!("{p}-outbox"));
    let missing_key = outputs.output("Nope").expect_err("no such output");
    assert!(missing_key.to_string().contains("Nope") && missing_key.to_string().contains(&stack));
    let missing = verify_stack_resources(&emulator, &stack, &good).await.expect("verify");
    assert!(missing.is_empty(), "{missing:?}");

    // A queue deleted behind CloudFormation's back is reported missing.
    let sqs = aws_sdk_sqs::Client::new(&emulator.sdk_config());
    let url = outputs.output("QueueUrl").expect("QueueUrl");
    sqs.delete_queue().queue_url(url).send().await.expect("DeleteQueue");
    let missing = verify_stack_resources(&emulator, &stack, &good).await.expect("verify");
    assert!(missing.iter().any(|m| m.logical_id == "Queue" && m.resource_type == "AWS::SQS::Queue"), "{missing:?}");

    // A failing stack names the failed resource and the reason.
    let p = prefix();
    let params = BTreeMap::from([("Prefix".to_owned(), p.clone())]);
    let failed = deploy_stack(&emulator, &format!("{p}-bad"), &bad, &params, timeout).await;
    let err = failed.expect_err("the bad stack fails");
    eprintln!("{err}");
    let HarnessError::StackFailed { failures, .. } = &err else {
        panic!("expected StackFailed, got {err:?}");
    };
    assert!(failures.iter().any(|f| f.contains("Broken (AWS::SQS::Queue)") && f.contains(".fifo")), "{failures:?}");
}
