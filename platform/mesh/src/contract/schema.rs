//! One version of one event type's schema.

use apache_avro::Schema;

#[derive(Debug, thiserror::Error)]
#[error("{origin}: not a valid Avro schema: {reason}")]
pub struct SchemaError {
    pub origin: String,
    pub reason: String,
}

/// A parsed `.avsc`, its version number and where it came from.
#[derive(Debug, Clone)]
pub struct SchemaVersion {
    pub version: u32,
    /// A file path or another label for messages.
    pub origin: String,
    pub schema: Schema,
    pub text: String,
}

impl SchemaVersion {
    pub fn parse(version: u32, origin: impl Into<String>, text: &str) -> Result<Self, SchemaError> {
        let origin = origin.into();
        match Schema::parse_str(text) {
            Ok(schema) => Ok(Self { version, origin, schema, text: text.to_string() }),
            Err(error) => Err(SchemaError { origin, reason: error.to_string() }),
        }
    }

    /// The record name (without namespace), for named schemas.
    pub fn name(&self) -> Option<&str> {
        self.schema.name().map(|name| name.name())
    }
}
