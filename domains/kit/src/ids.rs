//! Identifier newtypes. Each id wraps a `Uuid` in its own type so an order id
//! can never be passed where a customer id is expected; on the wire they are
//! plain strings.

/// A string that is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be a UUID")]
pub struct InvalidId;

/// Declares `pub struct $name(Uuid)` with its doc comments: generated as
/// UUIDv7, parsed from any textual UUID form (failing with [`InvalidId`]),
/// displayed and (de)serialized as the hyphenated lowercase string.
///
/// ```
/// domain_kit::uuid_id!(
///     /// Identifies a parcel.
///     ParcelId
/// );
///
/// let id = ParcelId::parse("0190A6C27C3E7D2A9B1E2F4C5D6E7F80").unwrap();
/// assert_eq!(id.to_string(), "0190a6c2-7c3e-7d2a-9b1e-2f4c5d6e7f80");
/// ```
#[macro_export]
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($crate::uuid::Uuid);

        impl $name {
            /// A new id. UUIDv7 is time-ordered, so ids sort roughly by creation time.
            #[must_use]
            pub fn generate() -> Self {
                Self($crate::uuid::Uuid::now_v7())
            }

            /// The id a caller derived (e.g. from an idempotency key).
            #[must_use]
            pub fn from_uuid(uuid: $crate::uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// Parses any textual UUID form; `Display` always gives the hyphenated lowercase form.
            pub fn parse(input: &str) -> ::core::result::Result<Self, $crate::InvalidId> {
                $crate::uuid::Uuid::try_parse(input).map(Self).map_err(|_| $crate::InvalidId)
            }

            /// The underlying UUID.
            #[must_use]
            pub fn as_uuid(&self) -> &$crate::uuid::Uuid {
                &self.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::InvalidId;

            fn from_str(input: &str) -> ::core::result::Result<Self, Self::Err> {
                Self::parse(input)
            }
        }

        impl ::core::convert::TryFrom<::std::string::String> for $name {
            type Error = $crate::InvalidId;

            fn try_from(input: ::std::string::String) -> ::core::result::Result<Self, Self::Error> {
                Self::parse(&input)
            }
        }

        impl ::core::convert::From<$name> for ::std::string::String {
            fn from(id: $name) -> Self {
                ::std::string::ToString::to_string(&id)
            }
        }

        impl ::core::convert::From<$crate::uuid::Uuid> for $name {
            fn from(uuid: $crate::uuid::Uuid) -> Self {
                Self(uuid)
            }
        }

        // By hand rather than derived: serde's derive names `serde` itself,
        // which the calling crate may not depend on. Same wire form as
        // `#[serde(try_from = "String", into = "String")]`.
        impl $crate::serde::Serialize for $name {
            fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
            where
                S: $crate::serde::Serializer,
            {
                serializer.serialize_str(&::std::string::ToString::to_string(self))
            }
        }

        impl<'de> $crate::serde::Deserialize<'de> for $name {
            fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
            where
                D: $crate::serde::Deserializer<'de>,
            {
                let text = <::std::string::String as $crate::serde::Deserialize>::deserialize(deserializer)?;
                Self::parse(&text).map_err(<D::Error as $crate::serde::de::Error>::custom)
            }
        }
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::InvalidId;

    crate::uuid_id!(
        /// An id declared as a domain declares one.
        OrderId
    );

    crate::uuid_id!(CustomerId);

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
    fn round_trips_as_a_plain_hyphenated_string() {
        let id = OrderId::parse("0190A6C27C3E7D2A9B1E2F4C5D6E7F80").unwrap();

        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(ID));
        assert_eq!(serde_json::from_value::<OrderId>(serde_json::json!(ID)).unwrap(), id);
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

    #[test]
    fn derives_the_same_id_from_the_same_uuid() {
        let uuid = uuid::Uuid::parse_str(ID).unwrap();

        assert_eq!(OrderId::from_uuid(uuid), OrderId::from(uuid));
        assert_eq!(OrderId::from_uuid(uuid).as_uuid(), &uuid);
    }
}
