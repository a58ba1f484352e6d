//! A customer's display name, valid by construction.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted name, in characters (not bytes), so non-ASCII names are not penalised.
pub const MAX_NAME_CHARS: usize = 200;

/// Why a name was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    #[error("must not be blank")]
    Blank,
    #[error("must be at most {MAX_NAME_CHARS} characters")]
    TooLong,
}

/// A non-blank name of at most [`MAX_NAME_CHARS`] characters, stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerName(String);

impl CustomerName {
    /// Trims surrounding whitespace, then checks the length of what is left.
    pub fn parse(input: &str) -> Result<Self, InvalidName> {
        let name = input.trim();
        if name.is_empty() {
            Err(InvalidName::Blank)
        } else if name.chars().count() > MAX_NAME_CHARS {
            Err(InvalidName::TooLong)
        } else {
            Ok(Self(name.to_owned()))
        }
    }

    /// The name as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CustomerName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CustomerName {
    type Error = InvalidName;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<CustomerName> for String {
    fn from(name: CustomerName) -> Self {
        name.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_trims_a_normal_name() {
        assert_eq!(CustomerName::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
    }

    #[test]
    fn rejects_empty_and_whitespace_only_names() {
        assert_eq!(CustomerName::parse(""), Err(InvalidName::Blank));
        assert_eq!(CustomerName::parse(" \t\n"), Err(InvalidName::Blank));
    }

    #[test]
    fn counts_characters_not_bytes() {
        let longest = "é".repeat(MAX_NAME_CHARS);

        assert!(CustomerName::parse(&longest).is_ok());
        assert_eq!(CustomerName::parse(&format!("{longest}é")), Err(InvalidName::TooLong));
    }
}
