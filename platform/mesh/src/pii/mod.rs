//! PII protected by the platform: a field a product's descriptor marks `pii`
//! never travels in clear. Its schema type is the protected form, the record
//! `mesh.pii.Protected` `{token, sealed}`:
//!
//! - `token`: the value's HMAC-SHA256 under the mesh's one token key, so the
//!   same value has the same token in every product that carries it
//!   (counting, grouping and joining still work on tokens);
//! - `sealed`: the value encrypted (AES-256-GCM) under a data key that the
//!   producing domain's key wraps (envelope encryption), bound to its product
//!   and field.
//!
//! The producer's [`Emitter`](crate::event::Emitter) protects each field with
//! a [`Protector`] before the event enters the outbox; a consumer's
//! subscriber opens each envelope with an [`Opener`] before its handler runs:
//! a subscriber the producer granted gets the clear value, every other one
//! the token. Keys come through the [`KeyService`] port (KMS in `mesh-aws`,
//! [`LocalKeys`] in tests): one call for the token key and one per data key,
//! never one per event.

mod crypto;
mod keys;
mod opener;
mod protector;
mod schema;

pub use crypto::{SealError, TOKEN_PREFIX, TokenKey, token_of};
pub use keys::{DataKey, KeyError, KeyService, LocalKeys, NoKeys};
pub use opener::{OpenError, Opened, Opener};
pub use protector::{KeyLimits, ProtectError, Protector};
pub use schema::{PROTECTED_TYPE, ProtectedField, opened_schema, protected_fields};

/// The KMS encryption context key a product's data keys are bound to: a data
/// key of `orders/order-events` unwraps only as one.
pub const CONTEXT_KEY: &str = "mesh:product";

/// The additional data sealing a field of a product: a sealed value moved to
/// another field or product does not open.
fn field_aad(source: &str, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(source.len() + field.len() + 1);
    aad.extend_from_slice(source.as_bytes());
    aad.push(0);
    aad.extend_from_slice(field.as_bytes());
    aad
}

#[cfg(test)]
mod tests;
