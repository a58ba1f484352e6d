//! Avro contracts: parsing `.avsc` versions, the compatibility gate between
//! versions (the Glue and Confluent registries' modes), checking producer
//! data against its schema, reading it with a consumer's schema (Avro schema
//! resolution), and the Glue column types a schema maps to.

mod compat;
mod glue;
mod json;
mod schema;

pub use apache_avro::Schema as AvroSchema;
pub use compat::{Breakage, Compatibility, Direction, Incompatibility, can_read, check_versions};
pub use glue::{GlueColumn, UnsupportedType, glue_columns, glue_type, merged_struct};
pub use json::{DataError, encode_json, resolve_json};
pub use schema::{SchemaError, SchemaVersion};
