//! The Avro schemas a domain speaks, bundled at build time as plain data, so
//! the domain needs no platform crate to declare them.

/// `(domain, product, major version, [(event type, schema version, .avsc)])`:
/// the shape of `mesh::schemas::BundledProduct`, which the functions hand
/// each bundle to.
pub type Bundle = (&'static str, &'static str, u32, &'static [(&'static str, u32, &'static str)]);

/// The text of a schema under the workspace's `schemas/`, e.g.
/// `schema!("orders/order-events/v1/OrderPlaced/2.avsc")`, included at build
/// time. The path is taken from the calling crate's manifest directory (a
/// `domains/<name>` crate), where `env!` expands.
#[macro_export]
macro_rules! schema {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/", $path))
    };
}

#[cfg(test)]
mod tests {
    use super::Bundle;

    /// The kit lives in `domains/` too, so the path resolves from here as well.
    const PLACED: Bundle = (
        "orders",
        "order-events",
        1,
        &[("OrderPlaced", 1, crate::schema!("orders/order-events/v1/OrderPlaced/1.avsc"))],
    );

    #[test]
    fn includes_the_schema_text_from_the_workspace_schemas() {
        let (_, _, _, schemas) = PLACED;

        assert!(schemas[0].2.contains("\"name\": \"OrderPlaced\""), "{}", schemas[0].2);
    }
}
