//! The data product catalog on AWS: the Glue Data Catalog (a database per
//! domain, a table per product major version) and the Glue Schema Registry
//! (a registry per domain, a schema per event type, every version).

mod discover;
mod registrar;
mod spec;
mod template;

pub use discover::{ProductEntry, RegisteredSchema, list_products, show_product};
pub use registrar::{CatalogError, Registrar, SyncReport};
pub use spec::{CatalogSpec, EventSpec, OwnerSpec, PortArns, ProductSpec};
pub use template::{catalog_template, stream_parameter, topic_parameter};
