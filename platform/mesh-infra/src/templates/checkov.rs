//! The checkov checks this design does not follow, each with the reason,
//! written into the resource's `Metadata` (`checkov: skip: [{id, comment}]`)
//! where checkov reads it: `make lint` fails on any failed check that the
//! template itself does not answer. One table, by kind of resource, so a
//! reason is written once and every resource of that kind carries it.

use serde_norway::{Mapping, Value};

use super::cfn::{list, map, s};

/// A kind of function the platform generates, as far as checkov's verdicts differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// A function on a subscription queue.
    Consumer,
    /// The outbox relay, on the outbox table's stream.
    Relay,
    /// The function behind a domain's HTTP API.
    Api,
    /// The catalog registrar, behind the catalog stacks' custom resources.
    Registrar,
}

const VPC: (&str, &str) = (
    "CKV_AWS_117",
    "The function calls only AWS APIs (DynamoDB, SQS, SNS, Kinesis, Glue, X-Ray, Logs), each over TLS and \
     authorised by its role; it reaches nothing in a VPC, and a VPC would add NAT or endpoints without narrowing \
     what the role may do.",
);
const ASYNC_DLQ: (&str, &str) = (
    "CKV_AWS_116",
    "Nothing invokes the function asynchronously, where a DLQ would apply: its events come from an event-source \
     mapping (whose failures go to the queue's DLQ or the mapping's on-failure destination) or from a synchronous \
     caller that sees the error.",
);
const ENVIRONMENT_KEY: (&str, &str) = (
    "CKV_AWS_173",
    "The environment holds names and settings only (tables, topics, log level), no secret; Lambda encrypts it at \
     rest with its own key. Data the function handles is encrypted with the domain's key where it is stored.",
);

/// What checkov reports on `kind` that the design answers, as (check id, why).
pub fn skips(kind: FunctionKind) -> Vec<(&'static str, &'static str)> {
    let function = vec![VPC, ASYNC_DLQ, ENVIRONMENT_KEY];
    let more: &[(&str, &str)] = match kind {
        FunctionKind::Consumer => &[],
        FunctionKind::Relay => &[(
            "CKV_AWS_115",
            "Lambda runs one batch per outbox stream shard at a time, so the shards bound its concurrency; a \
             reservation below that would throttle the stream and delay every event, one above it reserves nothing \
             more.",
        )],
        FunctionKind::Registrar => &[(
            "CKV_AWS_115",
            "It runs only while a catalog stack deploys, one call per data product: there is no load to bound and no \
             traffic that could starve it.",
        )],
        FunctionKind::Api => &[],
    };
    function.into_iter().chain(more.iter().copied()).collect()
}

/// What checkov reports on the mesh's PII token key (an HMAC key) that the design answers.
const HMAC_ROTATION: (&str, &str) = (
    "CKV_AWS_7",
    "An HMAC key: KMS rotates symmetric encryption keys only. A rotated token key would also give every value a new \
     token and break every join on the archives; a new token generation is a new derivation label instead (the \
     producers derive their token key from this one at init).",
);

/// `Metadata.checkov.skip` for `kind`.
fn metadata(kind: FunctionKind) -> Value {
    skip_metadata(skips(kind))
}

/// `Metadata.checkov.skip` of the mesh's PII token key.
pub fn token_key_metadata() -> Value {
    skip_metadata(vec![HMAC_ROTATION])
}

fn skip_metadata(skips: Vec<(&str, &str)>) -> Value {
    let skip = skips.into_iter().map(|(id, comment)| map([("id", s(id)), ("comment", s(comment))]));
    map([("checkov", map([("skip", list(skip))]))])
}

/// A resource declaration of `resource_type` with `properties`, its
/// `Metadata` saying which checks it answers and why.
pub fn annotate(kind: FunctionKind, resource_type: &str, properties: Value) -> Value {
    let mut body = Mapping::new();
    body.insert(s("Type"), s(resource_type));
    body.insert(s("Metadata"), metadata(kind));
    body.insert(s("Properties"), properties);
    Value::Mapping(body)
}
