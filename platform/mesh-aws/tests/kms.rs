//! The key port on KMS: exact request shapes, the calls a thousand events
//! cost (counted with aws-smithy-mocks), and KMS's refusals as the core's.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ErrorMetadata;
use aws_sdk_kms::operation::decrypt::{DecryptError, DecryptOutput};
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyOutput;
use aws_sdk_kms::operation::generate_mac::GenerateMacOutput;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, MacAlgorithmSpec};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use mesh::envelope::{Envelope, EventMeta};
use mesh::event::Emitter;
use mesh::pii::{CONTEXT_KEY, KeyLimits, Opener, Protector};
use mesh::schemas::ProductContract;
use mesh::store::Applied;
use mesh::subscriber::{HandleError, Handler, Message, handle_opened};
use mesh_aws::kms::{KmsKeys, TOKEN_KEY_INFO};
use serde_json::json;
use uuid::Uuid;

const SOURCE: &str = "orders/order-events";
const TOKEN_KEY: &str = "arn:aws:kms:us-east-1:000000000000:key/tokens";
const ORDERS_KEY: &str = "arn:aws:kms:us-east-1:000000000000:key/orders";
const DATA_KEY: [u8; 32] = [42; 32];

const PLACED: &str = r#"{"type": "record", "name": "OrderPlaced", "namespace": "mesh.orders.v2", "fields": [
    {"name": "order_id", "type": "string"},
    {"name": "customer_id", "type": {"type": "record", "name": "Protected", "namespace": "mesh.pii",
        "fields": [{"name": "token", "type": "string"}, {"name": "sealed", "type": "string"}]}}]}"#;

fn contract() -> ProductContract {
    ProductContract::new("orders", "order-events", 2, &[("OrderPlaced", 1, PLACED)]).unwrap()
}

fn placed(order: usize) -> serde_json::Value {
    json!({"type": "OrderPlaced", "data": {"order_id": format!("o-{order}"), "customer_id": format!("c-{}", order % 50)}})
}

/// KMS answers an unauthorised call with this code (no modelled error type).
fn access_denied(message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code("AccessDeniedException").message(message).build()
}

struct Accept;

impl Handler for Accept {
    async fn handle(&self, _: &Envelope) -> Result<Applied, HandleError> {
        Ok(Applied::Changed)
    }
}

#[tokio::test]
async fn a_thousand_events_cost_two_kms_calls_to_write_and_one_to_read() {
    let mac = mock!(aws_sdk_kms::Client::generate_mac)
        .match_requests(|r| {
            r.key_id() == Some(TOKEN_KEY)
                && r.mac_algorithm() == Some(&MacAlgorithmSpec::HmacSha256)
                && r.message().map(Blob::as_ref) == Some(TOKEN_KEY_INFO)
        })
        .then_output(|| GenerateMacOutput::builder().mac(Blob::new([9u8; 32])).build());
    let data_key = mock!(aws_sdk_kms::Client::generate_data_key)
        .match_requests(|r| {
            r.key_id() == Some(ORDERS_KEY)
                && r.key_spec() == Some(&DataKeySpec::Aes256)
                && r.encryption_context().and_then(|c| c.get(CONTEXT_KEY)).map(String::as_str) == Some(SOURCE)
        })
        .then_output(|| {
            GenerateDataKeyOutput::builder()
                .plaintext(Blob::new(DATA_KEY))
                .ciphertext_blob(Blob::new(*b"wrapped"))
                .build()
        });
    let decrypt = mock!(aws_sdk_kms::Client::decrypt)
        .match_requests(|r| {
            r.ciphertext_blob().map(Blob::as_ref) == Some(b"wrapped".as_slice())
                && r.encryption_context().and_then(|c| c.get(CONTEXT_KEY)).map(String::as_str) == Some(SOURCE)
        })
        .then_output(|| DecryptOutput::builder().plaintext(Blob::new(DATA_KEY)).build());
    let producer_kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&mac, &data_key]);
    let consumer_kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&decrypt]);
    let keys = KmsKeys::new(producer_kms).with_token_key(TOKEN_KEY).with_sealing_key(ORDERS_KEY);
    let protector = Protector::new(&keys, SOURCE, KeyLimits::default()).await.unwrap();
    let emitter = Emitter::new(contract()).protecting(protector.into());

    let meta = EventMeta::root(Uuid::now_v7());
    let messages: Vec<Message> = (0..1000)
        .map(|i| {
            let envelope = emitter.envelopes(&format!("o-{i}"), 1, &[placed(i)], &meta).unwrap().remove(0);
            Message::new(i.to_string(), envelope.to_json().unwrap())
        })
        .collect();
    let opener = Opener::new(KmsKeys::new(consumer_kms), [SOURCE.to_owned()]);
    let report = handle_opened(&messages, &Accept, &opener).await;

    assert_eq!((report.applied, report.failed.len()), (1000, 0), "{:?}", report.failed.first());
    assert_eq!((mac.num_calls(), data_key.num_calls()), (1, 1), "the producer: two calls at init, none per event");
    assert_eq!(decrypt.num_calls(), 1, "the consumer: one Decrypt per data key");
    assert!(messages.iter().all(|m| !m.body.contains("\"c-")), "no clear customer id left the producer");
}

#[tokio::test]
async fn a_role_kms_refuses_gets_poison_naming_the_field_and_the_refusal() {
    let data_key = mock!(aws_sdk_kms::Client::generate_data_key).then_output(|| {
        GenerateDataKeyOutput::builder().plaintext(Blob::new(DATA_KEY)).ciphertext_blob(Blob::new(*b"wrapped")).build()
    });
    let mac = mock!(aws_sdk_kms::Client::generate_mac)
        .then_output(|| GenerateMacOutput::builder().mac(Blob::new([9u8; 32])).build());
    let denied = mock!(aws_sdk_kms::Client::decrypt).then_error(|| {
        DecryptError::generic(access_denied("User: analytics is not authorized to perform: kms:Decrypt"))
    });
    let keys = KmsKeys::new(mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&mac, &data_key]))
        .with_token_key(TOKEN_KEY)
        .with_sealing_key(ORDERS_KEY);
    let emitter =
        Emitter::new(contract()).protecting(Protector::new(&keys, SOURCE, KeyLimits::default()).await.unwrap().into());
    let envelope = emitter.envelopes("o-1", 1, &[placed(1)], &EventMeta::root(Uuid::now_v7())).unwrap().remove(0);
    let opener = Opener::new(KmsKeys::new(mock_client!(aws_sdk_kms, [&denied])), [SOURCE.to_owned()]);

    let report = handle_opened(&[Message::new("m", envelope.to_json().unwrap())], &Accept, &opener).await;

    let failed = &report.failed[0];
    assert!(failed.poison, "{failed:?}");
    assert!(failed.reason.contains("protected field `customer_id` of orders/order-events"), "{}", failed.reason);
    assert!(failed.reason.contains("refused Decrypt: AccessDeniedException"), "{}", failed.reason);
}

#[tokio::test]
async fn a_producer_without_its_keys_cannot_start() {
    let denied = mock!(aws_sdk_kms::Client::generate_mac)
        .then_error(|| aws_sdk_kms::operation::generate_mac::GenerateMacError::generic(access_denied("no")));
    let keys =
        KmsKeys::new(mock_client!(aws_sdk_kms, [&denied])).with_token_key(TOKEN_KEY).with_sealing_key(ORDERS_KEY);

    let error = Protector::new(&keys, SOURCE, KeyLimits::default()).await.unwrap_err();

    assert_eq!(error.to_string(), "the key service refused GenerateMac: AccessDeniedException: no");
}
