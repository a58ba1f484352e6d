//! Identifiers. Each id wraps a `Uuid` in its own type so an order id can never
//! be passed where a customer id is expected; on the wire they are plain strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a UUID")]
pub struct InvalidId;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// A new id. UUIDv7 is time-ordered, so ids sort roughly by creation time.
            #[must_use]
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses any textual UUID form; `Display` always gives the hyphenated lowercase form.
            pub fn parse(input: &str) -> Result<Self, InvalidId> {
                Uuid::try_parse(input).map(Self).map_err(|_| InvalidId)
            }

            /// The id a caller derived (e.g. from an idempotency key).
            #[must_use]
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            #[must_use]
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                Self::parse(input)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(input: String) -> Result<Self, Self::Error> {
                Self::parse(&input)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.to_string()
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// Identifies an order (owned by the orders product); the key of a reservation.
    OrderId
);

uuid_id!(
    /// Identifies a customer; the subject of (almost) every customer event.
    CustomerId
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ID: &str = "0190a6c2-7c3e-7d2a-9b1e-2f4c5d6e7f80";

    #[test]
    fn parses_a_uuid_and_displays_it_hyphenated() {
        let id = OrderId::parse("0190A6C27C3E7D2A9B1E2F4C5D6E7F80").unwrap();

        assert_eq!(id.to_string(), ID);
    }

    #[test]
    fn rejects_text_that_is_not_a_uuid() {
        assert_eq!(CustomerId::parse("not-a-uuid"), Err(InvalidId));
        assert_eq!(CustomerId::parse(""), Err(InvalidId));
    }

    #[test]
    fn serializes_as_a_plain_string() {
        let id = OrderId::parse(ID).unwrap();

        let json = serde_json::to_value(id).unwrap();

        assert_eq!(json, serde_json::json!(ID));
        assert_eq!(serde_json::from_value::<OrderId>(json).unwrap(), id);
    }

    #[test]
    fn refuses_to_deserialize_a_malformed_id() {
        let result = serde_json::from_value::<OrderId>(serde_json::json!("nope"));

        assert!(result.is_err());
    }

    #[test]
    fn generates_time_ordered_v7_ids() {
        let id = OrderId::generate();

        assert_eq!(id.as_uuid().get_version_num(), 7);
    }
}
