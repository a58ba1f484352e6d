//! The CloudEvents 1.0 envelope every event travels in (JSON structured mode).
//!
//! `cloudevents-sdk` does the wire format and the spec checks; [`Envelope`]
//! gives the mesh's extensions (`sequence`, correlation and causation ids,
//! W3C `traceparent`) typed accessors so nobody handles them as loose strings.

use chrono::{DateTime, SecondsFormat, Utc};
use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV10};
use serde_json::Value;
use uuid::Uuid;

const SEQUENCE: &str = "sequence";
const CORRELATION_ID: &str = "correlationid";
const CAUSATION_ID: &str = "causationid";
const TRACEPARENT: &str = "traceparent";

/// One event, as it is stored in the outbox and published to every port.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// UUIDv7: unique, and sortable by creation time.
    pub id: Uuid,
    /// `<domain>/<product>`, e.g. `orders/order-events`.
    pub source: String,
    /// The event type, e.g. `OrderPlaced`.
    pub event_type: String,
    /// The entity the event belongs to; also the partition key downstream.
    pub subject: String,
    pub time: DateTime<Utc>,
    /// The contract the data follows (a registry schema version).
    pub dataschema: String,
    pub data: Value,
    /// Position of this event in its entity's history, starting at 1.
    pub sequence: u64,
    /// The id of the first event (or request) of the conversation.
    pub correlation_id: Uuid,
    /// The id of the event (or request) that directly caused this one.
    pub causation_id: Uuid,
    pub traceparent: Option<String>,
}

/// What a producer knows about why an event happens: which request or event
/// caused it, and the trace it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    pub correlation_id: Uuid,
    pub causation_id: Uuid,
    pub traceparent: Option<String>,
}

impl EventMeta {
    /// A new conversation started by a request with this id.
    pub fn root(request_id: Uuid) -> Self {
        Self { correlation_id: request_id, causation_id: request_id, traceparent: None }
    }

    /// Metadata for events caused by `cause`: same conversation and trace.
    pub fn caused_by(cause: &Envelope) -> Self {
        Self { correlation_id: cause.correlation_id, causation_id: cause.id, traceparent: cause.traceparent.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a valid CloudEvent: {0}")]
    CloudEvent(#[from] cloudevents::event::EventBuilderError),
    #[error("CloudEvent attribute `{name}`: {problem}")]
    Attribute { name: &'static str, problem: String },
}

impl Envelope {
    /// A new event with a fresh UUIDv7 id, stamped now.
    pub fn new(
        source: impl Into<String>,
        event_type: impl Into<String>,
        subject: impl Into<String>,
        sequence: u64,
        data: Value,
        meta: &EventMeta,
    ) -> Self {
        let event_type = event_type.into();
        let source = source.into();
        // The first schema version of major 1; `Emitter` stamps the version it checked.
        let dataschema = format!("urn:mesh:schema:{}:v1:{}:1", source.replace('/', ":"), event_type);
        Self {
            id: Uuid::now_v7(),
            source,
            event_type,
            subject: subject.into(),
            time: Utc::now(),
            dataschema,
            data,
            sequence,
            correlation_id: meta.correlation_id,
            causation_id: meta.causation_id,
            traceparent: meta.traceparent.clone(),
        }
    }

    /// The JSON structured-mode form, exactly as consumers receive it.
    pub fn to_json(&self) -> Result<String, EnvelopeError> {
        Ok(serde_json::to_string(&self.to_cloudevent()?)?)
    }

    /// Parses and checks a structured-mode CloudEvent carrying the mesh's
    /// extensions; every problem names the attribute at fault.
    pub fn from_json(json: &str) -> Result<Self, EnvelopeError> {
        let event: Event = serde_json::from_str(json)?;
        Self::try_from(event)
    }

    fn to_cloudevent(&self) -> Result<Event, EnvelopeError> {
        let sequence = i64::try_from(self.sequence).map_err(|_| EnvelopeError::Attribute {
            name: SEQUENCE,
            problem: format!("{} does not fit a CloudEvents integer", self.sequence),
        })?;
        let mut builder = EventBuilderV10::new()
            .id(self.id.to_string())
            .source(self.source.clone())
            .ty(self.event_type.clone())
            .subject(self.subject.clone())
            .time(self.time.to_rfc3339_opts(SecondsFormat::Micros, true))
            .data_with_schema("application/json", self.dataschema.as_str(), self.data.clone())
            .extension(SEQUENCE, sequence)
            .extension(CORRELATION_ID, self.correlation_id.to_string())
            .extension(CAUSATION_ID, self.causation_id.to_string());
        if let Some(traceparent) = &self.traceparent {
            builder = builder.extension(TRACEPARENT, traceparent.clone());
        }
        Ok(builder.build()?)
    }
}

impl TryFrom<Event> for Envelope {
    type Error = EnvelopeError;

    fn try_from(event: Event) -> Result<Self, Self::Error> {
        let data = match event.data() {
            Some(Data::Json(value)) => value.clone(),
            Some(Data::String(text)) => serde_json::from_str(text)?,
            Some(Data::Binary(_)) => {
                return Err(missing("data", "must be JSON, found binary data"));
            }
            None => return Err(missing("data", "is required")),
        };
        // CloudEvents requires `type` and `source` non-empty; the SDK takes
        // "" for either. A subject names the entity: it cannot be empty.
        let non_empty = |name, value: &str| {
            if value.is_empty() { Err(missing(name, "must not be empty")) } else { Ok(value.to_string()) }
        };
        Ok(Self {
            id: parse_uuid("id", event.id())?,
            source: non_empty("source", &event.source().to_string())?,
            event_type: non_empty("type", event.ty())?,
            subject: non_empty("subject", event.subject().ok_or_else(|| missing("subject", "is required"))?)?,
            time: *event.time().ok_or_else(|| missing("time", "is required"))?,
            dataschema: event.dataschema().ok_or_else(|| missing("dataschema", "is required"))?.to_string(),
            data,
            sequence: match event.extension(SEQUENCE) {
                Some(ExtensionValue::Integer(n)) if *n >= 1 => *n as u64,
                Some(ExtensionValue::String(s)) => s
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| missing(SEQUENCE, "must be a positive integer"))?,
                Some(_) => return Err(missing(SEQUENCE, "must be a positive integer")),
                None => return Err(missing(SEQUENCE, "is required")),
            },
            correlation_id: uuid_extension(&event, CORRELATION_ID)?,
            causation_id: uuid_extension(&event, CAUSATION_ID)?,
            traceparent: match event.extension(TRACEPARENT) {
                Some(ExtensionValue::String(s)) => Some(s.clone()),
                Some(_) => return Err(missing(TRACEPARENT, "must be a string")),
                None => None,
            },
        })
    }
}

fn missing(name: &'static str, problem: &str) -> EnvelopeError {
    EnvelopeError::Attribute { name, problem: problem.to_string() }
}

fn parse_uuid(name: &'static str, value: &str) -> Result<Uuid, EnvelopeError> {
    Uuid::parse_str(value).map_err(|e| EnvelopeError::Attribute { name, problem: format!("not a UUID: {e}") })
}

fn uuid_extension(event: &Event, name: &'static str) -> Result<Uuid, EnvelopeError> {
    match event.extension(name) {
        Some(ExtensionValue::String(s)) => parse_uuid(name, s),
        Some(_) => Err(missing(name, "must be a UUID string")),
        None => Err(missing(name, "is required")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Envelope {
        let request = Uuid::now_v7();
        let mut meta = EventMeta::root(request);
        meta.traceparent = Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
        Envelope::new("orders/order-events", "OrderPlaced", "order-1", 1, json!({"amount_cents": 5}), &meta)
    }

    #[test]
    fn round_trips_through_structured_json() {
        let envelope = sample();
        let json = envelope.to_json().unwrap();
        let back = Envelope::from_json(&json).unwrap();
        // CloudEvents time is carried with microsecond precision.
        assert_eq!(back.time.timestamp_micros(), envelope.time.timestamp_micros());
        assert_eq!(Envelope { time: envelope.time, ..back }, envelope);
    }

    #[test]
    fn writes_the_cloudevents_attributes_and_extensions() {
        let value: Value = serde_json::from_str(&sample().to_json().unwrap()).unwrap();
        assert_eq!(value["specversion"], "1.0");
        assert_eq!(value["type"], "OrderPlaced");
        assert_eq!(value["subject"], "order-1");
        assert_eq!(value["sequence"], 1);
        assert_eq!(value["datacontenttype"], "application/json");
        assert_eq!(value["data"]["amount_cents"], 5);
        assert!(value["traceparent"].as_str().unwrap().starts_with("00-"));
        assert_eq!(value["correlationid"], value["causationid"]);
    }

    #[test]
    fn ids_are_uuid_v7() {
        assert_eq!(sample().id.get_version_num(), 7);
    }

    #[test]
    fn names_the_missing_extension() {
        let mut value: Value = serde_json::from_str(&sample().to_json().unwrap()).unwrap();
        value.as_object_mut().unwrap().remove("sequence");
        let error = Envelope::from_json(&value.to_string()).unwrap_err();
        assert_eq!(error.to_string(), "CloudEvent attribute `sequence`: is required");
    }

    #[test]
    fn refuses_an_empty_type_source_or_subject_naming_it() {
        for attribute in ["type", "source", "subject"] {
            let mut value: Value = serde_json::from_str(&sample().to_json().unwrap()).unwrap();
            value[attribute] = Value::from("");

            let error = Envelope::from_json(&value.to_string()).unwrap_err();

            assert_eq!(error.to_string(), format!("CloudEvent attribute `{attribute}`: must not be empty"));
        }
    }

    #[test]
    fn rejects_a_body_that_is_not_a_cloudevent() {
        let error = Envelope::from_json(r#"{"hello":"world"}"#).unwrap_err();
        assert!(error.to_string().starts_with("not valid JSON") || error.to_string().contains("CloudEvent"), "{error}");
        assert!(Envelope::from_json("not json").is_err());
    }
}
