//! Consumers' writer-schema lookups against the Glue Schema Registry
//! (aws-smithy-mocks): the exact request, the cache, and errors mapped.
#![allow(clippy::unwrap_used)]

use aws_sdk_glue::operation::get_schema_version::{GetSchemaVersionError, GetSchemaVersionOutput};
use aws_sdk_glue::types::error::EntityNotFoundException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use mesh::schemas::{LookupError, SchemaRef, WriterSchemas};
use mesh_aws::schema_registry::GlueSchemas;

const PLACED_V2: &str = include_str!("../../../schemas/orders/order-events/v1/OrderPlaced/2.avsc");

fn placed_v2() -> SchemaRef {
    SchemaRef::parse("urn:mesh:schema:orders:order-events:v1:OrderPlaced:2").unwrap()
}

#[tokio::test]
async fn asks_the_producers_registry_once_per_version() {
    let rule = mock!(aws_sdk_glue::Client::get_schema_version)
        .match_requests(|request| {
            let id = request.schema_id().unwrap();
            id.registry_name() == Some("mesh-7-orders")
                && id.schema_name() == Some("order-events.v1.OrderPlaced")
                && request.schema_version_number().and_then(|n| n.version_number()) == Some(2)
        })
        .then_output(|| GetSchemaVersionOutput::builder().schema_definition(PLACED_V2).version_number(2).build());
    let client = mock_client!(aws_sdk_glue, RuleMode::MatchAny, [&rule]);
    let schemas = GlueSchemas::new(client, "mesh-7");

    let first = schemas.writer_schema(&placed_v2()).await.unwrap();
    let second = schemas.writer_schema(&placed_v2()).await.unwrap();

    assert_eq!(rule.num_calls(), 1);
    assert_eq!(first.canonical_form(), second.canonical_form());
    assert!(first.canonical_form().contains("channel"));
}

#[tokio::test]
async fn an_unknown_version_is_not_found() {
    let rule = mock!(aws_sdk_glue::Client::get_schema_version).then_error(|| {
        GetSchemaVersionError::EntityNotFoundException(
            EntityNotFoundException::builder().message("Schema version is not found.").build(),
        )
    });
    let client = mock_client!(aws_sdk_glue, [&rule]);

    let error = GlueSchemas::new(client, "mesh-7").writer_schema(&placed_v2()).await.unwrap_err();

    assert!(matches!(error, LookupError::NotFound(ref missing) if *missing == placed_v2()), "{error:?}");
}

#[tokio::test]
async fn a_definition_that_does_not_parse_is_unavailable_not_cached() {
    let rule = mock!(aws_sdk_glue::Client::get_schema_version)
        .then_output(|| GetSchemaVersionOutput::builder().schema_definition("{\"type\": \"recrod\"}").build());
    let client = mock_client!(aws_sdk_glue, RuleMode::MatchAny, [&rule]);
    let schemas = GlueSchemas::new(client, "mesh-7");

    let error = schemas.writer_schema(&placed_v2()).await.unwrap_err();
    schemas.writer_schema(&placed_v2()).await.unwrap_err();

    assert!(matches!(error, LookupError::Unavailable { .. }), "{error:?}");
    assert!(mesh::error::Chain(&error).to_string().contains("does not parse"), "{error}");
    assert_eq!(rule.num_calls(), 2);
}
