//! The two primitives: tokens (HMAC-SHA256) and sealed values (AES-256-GCM
//! under a data key, the wrapped data key carried along).

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// Every token starts with this: `t1_` and 43 characters of base64url.
pub const TOKEN_PREFIX: &str = "t1_";
/// Every sealed value starts with this: `s1.<wrapped key>.<nonce, ciphertext, tag>`.
const SEALED_PREFIX: &str = "s1.";

/// The mesh's token key, unsealed once at init: `token = HMAC-SHA256(key, value)`.
#[derive(Clone)]
pub struct TokenKey(hmac::Key);

impl TokenKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The token of `value`: the same in every product of the mesh.
    pub fn token(&self, value: &str) -> String {
        token_of(&self.0, value)
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// `t1_` + base64url(HMAC-SHA256(key, value)).
pub fn token_of(key: &hmac::Key, value: &str) -> String {
    let tag = hmac::sign(key, value.as_bytes());
    format!("{TOKEN_PREFIX}{}", B64.encode(tag.as_ref()))
}

/// Why a value could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a data key must be 32 bytes, found {0}")]
    KeyLength(usize),
    #[error("the sealed value is not `s1.<wrapped key>.<ciphertext>` in base64url")]
    Malformed,
    #[error("the sealed value does not open with its data key (altered, or sealed for another field or product)")]
    DoesNotOpen,
    #[error("the opened value is not UTF-8 text")]
    NotText,
    #[error("no random nonce could be drawn")]
    Random,
}

/// A data key ready to seal, with its wrapped form (what travels).
pub(crate) struct SealingKey {
    key: RandomizedNonceKey,
    wrapped: String,
}

impl SealingKey {
    pub(crate) fn new(plaintext: &[u8], wrapped: &[u8]) -> Result<Self, SealError> {
        Ok(Self { key: aead_key(plaintext)?, wrapped: B64.encode(wrapped) })
    }

    /// `s1.<wrapped>.<nonce ‖ ciphertext ‖ tag>`, all base64url.
    pub(crate) fn seal(&self, aad: &[u8], value: &str) -> Result<String, SealError> {
        let mut body = value.as_bytes().to_vec();
        let nonce = self.key.seal_in_place_append_tag(Aad::from(aad), &mut body).map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + body.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&body);
        Ok(format!("{SEALED_PREFIX}{}.{}", self.wrapped, B64.encode(out)))
    }
}

/// A data key unwrapped for opening.
pub(crate) struct OpeningKey(RandomizedNonceKey);

impl OpeningKey {
    pub(crate) fn new(plaintext: &[u8]) -> Result<Self, SealError> {
        Ok(Self(aead_key(plaintext)?))
    }

    pub(crate) fn open(&self, aad: &[u8], sealed: &Sealed) -> Result<String, SealError> {
        if sealed.body.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (nonce, ciphertext) = sealed.body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut buffer = ciphertext.to_vec();
        let clear = self.0.open_in_place(nonce, Aad::from(aad), &mut buffer).map_err(|_| SealError::DoesNotOpen)?;
        String::from_utf8(clear.to_vec()).map_err(|_| SealError::NotText)
    }
}

fn aead_key(plaintext: &[u8]) -> Result<RandomizedNonceKey, SealError> {
    if plaintext.len() != 32 {
        return Err(SealError::KeyLength(plaintext.len()));
    }
    RandomizedNonceKey::new(&AES_256_GCM, plaintext).map_err(|_| SealError::KeyLength(plaintext.len()))
}

/// A sealed value taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// The data key as the producer's key wrapped it, base64url (the cache key).
    pub(crate) wrapped: String,
    pub(crate) body: Vec<u8>,
}

impl Sealed {
    pub(crate) fn parse(text: &str) -> Result<Self, SealError> {
        let rest = text.strip_prefix(SEALED_PREFIX).ok_or(SealError::Malformed)?;
        let (wrapped, body) = rest.split_once('.').ok_or(SealError::Malformed)?;
        if B64.decode(wrapped).is_err() {
            return Err(SealError::Malformed);
        }
        Ok(Self { wrapped: wrapped.to_owned(), body: B64.decode(body).map_err(|_| SealError::Malformed)? })
    }

    pub(crate) fn wrapped_bytes(&self) -> Vec<u8> {
        B64.decode(&self.wrapped).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stable_keyed_and_says_nothing_of_the_value() {
        let (key, other) = (TokenKey::new(b"mesh token key"), TokenKey::new(b"another mesh"));

        let token = key.token("Ada Lovelace");

        assert_eq!(token, key.token("Ada Lovelace"), "the same value, the same token");
        assert_ne!(token, key.token("Ada Lovelac"));
        assert_ne!(token, other.token("Ada Lovelace"), "another key, another token");
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() == 46, "{token}");
        assert!(!token.contains("Ada"));
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_its_field() {
        let data_key = [7u8; 32];
        let sealing = SealingKey::new(&data_key, b"wrapped-by-kms").unwrap();

        let sealed = sealing.seal(b"orders/order-events\0customer_id", "c-42").unwrap();

        assert_ne!(sealed, sealing.seal(b"orders/order-events\0customer_id", "c-42").unwrap(), "a fresh nonce");
        assert!(!sealed.contains("c-42"));
        let parsed = Sealed::parse(&sealed).unwrap();
        assert_eq!(parsed.wrapped_bytes(), b"wrapped-by-kms");
        let opening = OpeningKey::new(&data_key).unwrap();
        assert_eq!(opening.open(b"orders/order-events\0customer_id", &parsed).unwrap(), "c-42");
        assert_eq!(opening.open(b"orders/order-events\0name", &parsed), Err(SealError::DoesNotOpen));
        assert_eq!(
            OpeningKey::new(&[8u8; 32]).unwrap().open(b"orders/order-events\0customer_id", &parsed),
            Err(SealError::DoesNotOpen)
        );
    }

    #[test]
    fn refuses_what_is_not_a_sealed_value() {
        for text in ["c-42", "s1.", "s1.abc", "s1.a!b.cd", "s2.YQ.YQ"] {
            assert_eq!(Sealed::parse(text), Err(SealError::Malformed), "{text}");
        }
        let short = Sealed { wrapped: "YQ".into(), body: vec![1, 2] };
        assert_eq!(OpeningKey::new(&[7u8; 32]).unwrap().open(b"", &short), Err(SealError::Malformed));
        assert_eq!(OpeningKey::new(&[7u8; 16]).err(), Some(SealError::KeyLength(16)));
    }
}
