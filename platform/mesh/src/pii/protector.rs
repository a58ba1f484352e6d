//! The producer's side: a value becomes its protected form, `{token, sealed}`,
//! computed in the function with keys fetched at init. No key service call
//! per event: the token key is asked once, a data key once per
//! [`KeyLimits`] (age or uses), and that renewal happens off the event path.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::crypto::{SealError, SealingKey, TokenKey};
use super::keys::{DataKey, KeyError, KeyService};
use super::{CONTEXT_KEY, field_aad};

/// How long one data key seals values before a new one is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLimits {
    pub max_age: Duration,
    pub max_uses: u64,
}

impl Default for KeyLimits {
    /// Five minutes or 100,000 values, whichever comes first: one data key
    /// call per function instance and five minutes at any rate.
    fn default() -> Self {
        Self { max_age: Duration::from_secs(300), max_uses: 100_000 }
    }
}

/// Why a value could not be protected.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

struct Current {
    key: SealingKey,
    born: Instant,
    uses: AtomicU64,
}

/// Protects the fields of one product's events (its `source`).
pub struct Protector {
    source: String,
    tokens: TokenKey,
    current: RwLock<Arc<Current>>,
    limits: KeyLimits,
    renewing: AtomicBool,
}

impl fmt::Debug for Protector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protector").field("source", &self.source).field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Protector {
    /// Asks `keys` for the token key and a first data key (two calls, at init).
    pub async fn new(keys: &impl KeyService, source: &str, limits: KeyLimits) -> Result<Self, ProtectError> {
        let tokens = keys.token_key().await?;
        let data_key = keys.data_key(source).await?;
        Self::with_keys(tokens, &data_key, source, limits)
    }

    /// From keys already at hand: the token key and a first data key of `source`.
    pub fn with_keys(
        tokens: TokenKey,
        data_key: &DataKey,
        source: &str,
        limits: KeyLimits,
    ) -> Result<Self, ProtectError> {
        Ok(Self {
            source: source.to_owned(),
            tokens,
            current: RwLock::new(Arc::new(Self::current(data_key)?)),
            limits,
            renewing: AtomicBool::new(false),
        })
    }

    fn current(data_key: &DataKey) -> Result<Current, ProtectError> {
        let key = SealingKey::new(&data_key.plaintext, &data_key.wrapped)?;
        Ok(Current { key, born: Instant::now(), uses: AtomicU64::new(0) })
    }

    async fn fresh(keys: &impl KeyService, source: &str) -> Result<Current, ProtectError> {
        Self::current(&keys.data_key(source).await?)
    }

    /// `<domain>/<product>`: the product whose fields this protects.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The KMS encryption context of this product's data keys.
    pub fn context(&self) -> (&'static str, &str) {
        (CONTEXT_KEY, &self.source)
    }

    /// The token of `value`, the same in every product.
    pub fn token(&self, value: &str) -> String {
        self.tokens.token(value)
    }

    /// `{"token": .., "sealed": ..}` for `value` of `field`.
    pub fn protect(&self, field: &str, value: &str) -> Result<Value, ProtectError> {
        let current = Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner));
        current.uses.fetch_add(1, Ordering::Relaxed);
        let sealed = current.key.seal(&field_aad(&self.source, field), value)?;
        Ok(json!({ "token": self.token(value), "sealed": sealed }))
    }

    /// Whether the data key has sealed enough (by age or uses): the caller
    /// renews it off the event path (see [`Protector::renew`]). Until then
    /// the current key goes on sealing: the limits are a hygiene bound, far
    /// below what AES-GCM with random nonces allows (2^32 values).
    pub fn wants_new_data_key(&self) -> bool {
        let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
        current.born.elapsed() >= self.limits.max_age || current.uses.load(Ordering::Relaxed) >= self.limits.max_uses
    }

    /// Replaces the data key with a fresh one (one key service call). Only
    /// one renewal runs at a time; a concurrent call returns at once.
    pub async fn renew(&self, keys: &impl KeyService) -> Result<(), ProtectError> {
        if self.renewing.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let fresh = Self::fresh(keys, &self.source).await;
        self.renewing.store(false, Ordering::Release);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh?);
        Ok(())
    }
}
