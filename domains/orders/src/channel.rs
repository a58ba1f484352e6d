//! Where an order was placed (`web`, `mobile`, `partner`, ...): a short
//! lowercase word the client chooses. It travels in `OrderPlaced` (schema
//! version 2) so read-side domains can break sales down by channel.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest channel name accepted.
pub const MAX_CHANNEL_CHARS: usize = 32;

/// A text that is not a channel name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidChannel {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_CHANNEL_CHARS} characters")]
    TooLong,
    #[error("must be a lowercase letter followed by lowercase letters, digits or dashes")]
    NotAWord,
}

/// A channel name: 1 to [`MAX_CHANNEL_CHARS`] characters, `[a-z][a-z0-9-]*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Channel(String);

impl Channel {
    pub fn parse(input: &str) -> Result<Self, InvalidChannel> {
        let mut chars = input.chars();
        match chars.next() {
            None => Err(InvalidChannel::Empty),
            Some(_) if input.chars().count() > MAX_CHANNEL_CHARS => Err(InvalidChannel::TooLong),
            Some(first) if first.is_ascii_lowercase() => {
                if chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                    Ok(Self(input.to_owned()))
                } else {
                    Err(InvalidChannel::NotAWord)
                }
            }
            Some(_) => Err(InvalidChannel::NotAWord),
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Channel {
    type Error = InvalidChannel;

    fn try_from(input: String) -> Result<Self, Self::Error> {
        Self::parse(&input)
    }
}

impl From<Channel> for String {
    fn from(channel: Channel) -> Self {
        channel.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_short_lowercase_words() {
        for name in ["web", "mobile", "partner", "b2b-api", "x", &"a".repeat(MAX_CHANNEL_CHARS)] {
            assert_eq!(Channel::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn rejects_empty_too_long_and_malformed_names() {
        assert_eq!(Channel::parse(""), Err(InvalidChannel::Empty));
        assert_eq!(Channel::parse(&"a".repeat(MAX_CHANNEL_CHARS + 1)), Err(InvalidChannel::TooLong));
        for name in ["Web", "1web", "-web", "web shop", "web_shop", "wéb", " web"] {
            assert_eq!(Channel::parse(name), Err(InvalidChannel::NotAWord), "{name:?}");
        }
    }

    #[test]
    fn is_a_plain_string_on_the_wire_and_refuses_a_bad_one() {
        let channel = Channel::parse("mobile").unwrap();

        assert_eq!(serde_json::to_value(&channel).unwrap(), serde_json::json!("mobile"));
        assert_eq!(serde_json::from_value::<Channel>(serde_json::json!("mobile")).unwrap(), channel);
        assert!(serde_json::from_value::<Channel>(serde_json::json!("Mobile")).is_err());
    }
}
