//! The key port: where the token key and the data keys come from. `mesh-aws`
//! implements it with KMS (the mesh's HMAC key, the domains' keys);
//! [`LocalKeys`] keeps keys in memory for tests and benches.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::crypto::TokenKey;
use super::protector::{KeyLimits, ProtectError, Protector};
use crate::error::Cause;

/// A fresh data key: its plaintext (kept in the function's memory only) and
/// its form wrapped by the producing domain's key (what travels).
#[derive(Clone)]
pub struct DataKey {
    pub plaintext: Vec<u8>,
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").field("wrapped_bytes", &self.wrapped.len()).finish_non_exhaustive()
    }
}

/// Why the key service did not give a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The caller may not use the key (its role or the key's policy): only a
    /// change of grants helps.
    #[error("the key service refused {operation}: {reason}")]
    Refused { operation: &'static str, reason: String },
    /// The wrapped key is not one the service can unwrap for this context
    /// (altered, another product's, another mesh's).
    #[error("the wrapped data key is not valid: {0}")]
    Invalid(String),
    /// The service could not be asked or did not answer: worth retrying.
    #[error("the key service is unavailable ({operation})")]
    Unavailable {
        operation: &'static str,
        #[source]
        source: Cause,
    },
}

/// Keys for protecting fields. `context` is the product (`orders/order-events`):
/// a data key is bound to it.
pub trait KeyService: Send + Sync {
    /// The mesh's token key (asked once, at init).
    fn token_key(&self) -> impl Future<Output = Result<TokenKey, KeyError>> + Send;
    /// A new data key under the producing domain's key.
    fn data_key(&self, context: &str) -> impl Future<Output = Result<DataKey, KeyError>> + Send;
    /// The plaintext of a data key that `context`'s producer wrapped.
    fn unwrap(&self, wrapped: &[u8], context: &str) -> impl Future<Output = Result<Vec<u8>, KeyError>> + Send;
}

/// A key service shared (one key cache for a producer and a subscriber in
/// one process, a counting fake read after the fact).
impl<K: KeyService + ?Sized> KeyService for std::sync::Arc<K> {
    fn token_key(&self) -> impl Future<Output = Result<TokenKey, KeyError>> + Send {
        (**self).token_key()
    }

    fn data_key(&self, context: &str) -> impl Future<Output = Result<DataKey, KeyError>> + Send {
        (**self).data_key(context)
    }

    fn unwrap(&self, wrapped: &[u8], context: &str) -> impl Future<Output = Result<Vec<u8>, KeyError>> + Send {
        (**self).unwrap(wrapped, context)
    }
}

/// No keys at all: a subscriber granted nothing opens every field to its token.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeys;

impl KeyService for NoKeys {
    async fn token_key(&self) -> Result<TokenKey, KeyError> {
        Err(KeyError::Refused { operation: "token key", reason: "no key service".into() })
    }

    async fn data_key(&self, _: &str) -> Result<DataKey, KeyError> {
        Err(KeyError::Refused { operation: "data key", reason: "no key service".into() })
    }

    async fn unwrap(&self, _: &[u8], _: &str) -> Result<Vec<u8>, KeyError> {
        Err(KeyError::Refused { operation: "unwrap", reason: "no key service".into() })
    }
}

/// Keys held in memory, with a master key wrapping the data keys (AES-GCM,
/// the context as additional data) the way a KMS key would. For tests,
/// benches and tools: never a deployment's keys. Counts its calls.
pub struct LocalKeys {
    token_secret: Vec<u8>,
    master: LessSafeKey,
    calls: AtomicU64,
}

impl fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeys").field("calls", &self.calls()).finish_non_exhaustive()
    }
}

impl LocalKeys {
    /// Keys derived from `seed`: the same seed, the same tokens and the same
    /// master key (two `LocalKeys` of one seed open each other's values).
    pub fn from_seed(seed: &str) -> Self {
        let derive = |label: &str| {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{label}\0{seed}").as_bytes())
                .as_ref()
                .to_vec()
        };
        let master = derive("master");
        let unbound = UnboundKey::new(&AES_256_GCM, &master).unwrap_or_else(|_| unreachable!("32-byte key"));
        Self { token_secret: derive("token"), master: LessSafeKey::new(unbound), calls: AtomicU64::new(0) }
    }

    /// Calls answered so far (token key, data keys, unwraps).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl KeyService for LocalKeys {
    async fn token_key(&self) -> Result<TokenKey, KeyError> {
        self.count();
        Ok(TokenKey::new(&self.token_secret))
    }

    async fn data_key(&self, context: &str) -> Result<DataKey, KeyError> {
        self.new_data_key(context)
    }

    async fn unwrap(&self, wrapped: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        self.unwrap_now(wrapped, context)
    }
}

impl LocalKeys {
    /// A protector of `source` with these keys, without an executor (two
    /// calls counted, as [`Protector::new`] makes): for handler tests.
    pub fn protector(&self, source: &str) -> Result<Protector, ProtectError> {
        self.count();
        let tokens = TokenKey::new(&self.token_secret);
        Protector::with_keys(tokens, &self.new_data_key(source)?, source, KeyLimits::default())
    }

    fn new_data_key(&self, context: &str) -> Result<DataKey, KeyError> {
        self.count();
        let mut plaintext = vec![0u8; 32];
        let mut nonce = [0u8; NONCE_LEN];
        let random =
            |buffer: &mut [u8]| aws_lc_rs::rand::fill(buffer).map_err(|_| KeyError::Invalid("no random bytes".into()));
        random(&mut plaintext)?;
        random(&mut nonce)?;
        let mut sealed = plaintext.clone();
        self.master
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut sealed)
            .map_err(|_| KeyError::Invalid("wrapping failed".into()))?;
        let wrapped = [nonce.as_slice(), &sealed].concat();
        Ok(DataKey { plaintext, wrapped })
    }

    fn unwrap_now(&self, wrapped: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        self.count();
        if wrapped.len() < NONCE_LEN {
            return Err(KeyError::Invalid("too short".into()));
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyError::Invalid("bad nonce".into()))?;
        let mut buffer = sealed.to_vec();
        let plaintext = self
            .master
            .open_in_place(nonce, Aad::from(context), &mut buffer)
            .map_err(|_| KeyError::Invalid(format!("not a data key of {context} under this master key")))?;
        Ok(plaintext.to_vec())
    }
}
