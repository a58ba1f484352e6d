//! The subscriber's side: before a handler runs, every protected field of
//! the event is opened, to its clear value for a subscriber the producer
//! granted (`access.pii_readers`), to its token for any other. A data key is
//! unwrapped once and kept: one key service call per data key, not per event.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::crypto::{OpeningKey, SealError, Sealed};
use super::field_aad;
use super::keys::{KeyError, KeyService, NoKeys};
use crate::envelope::Envelope;

/// Unwrapped data keys kept per subscriber; past this, the cache starts over.
const CACHED_KEYS: usize = 1024;

/// Why a protected field could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Never opens, whatever the retries: the message is poison.
    #[error("protected field `{field}` of {source_product}: {problem}")]
    Refused { field: String, source_product: String, problem: String },
    /// The key service did not answer: the message is retried.
    #[error("protected field `{field}` of {source_product}: {error}")]
    Unavailable {
        field: String,
        source_product: String,
        #[source]
        error: KeyError,
    },
}

/// What opening an event revealed: the clear values and their tokens, so a
/// failure's reason can be written without them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The protected fields found, in data order.
    pub fields: Vec<String>,
    revealed: Vec<(String, String)>,
}

impl Opened {
    /// `text` with every clear value this event revealed replaced by its
    /// token: a failure's reason goes to logs and DLQ attributes.
    pub fn redact(&self, text: &str) -> String {
        let mut redacted = text.to_owned();
        for (clear, token) in &self.revealed {
            if !clear.is_empty() {
                redacted = redacted.replace(clear.as_str(), token);
            }
        }
        redacted
    }
}

/// Opens the protected fields of the events a subscriber receives.
pub struct Opener<K = NoKeys> {
    keys: K,
    /// The products (`<domain>/<product>`) whose PII this subscriber may read.
    granted: BTreeSet<String>,
    cache: Mutex<HashMap<String, Arc<OpeningKey>>>,
}

impl<K> fmt::Debug for Opener<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener").field("granted", &self.granted).finish_non_exhaustive()
    }
}

impl Opener<NoKeys> {
    /// A subscriber granted nothing: every protected field becomes its token.
    pub fn tokens_only() -> Self {
        Self::new(NoKeys, [])
    }
}

impl Default for Opener<NoKeys> {
    fn default() -> Self {
        Self::tokens_only()
    }
}

impl<K: KeyService> Opener<K> {
    /// A subscriber granted the PII of the `granted` products, unwrapping
    /// their data keys through `keys`.
    pub fn new(keys: K, granted: impl IntoIterator<Item = String>) -> Self {
        Self { keys, granted: granted.into_iter().collect(), cache: Mutex::default() }
    }

    /// Whether this subscriber reads `source`'s protected fields in clear.
    pub fn is_granted(&self, source: &str) -> bool {
        self.granted.contains(source)
    }

    /// Replaces every protected field of `envelope.data` by its clear value
    /// (granted) or its token (not granted).
    pub async fn open(&self, envelope: &mut Envelope) -> Result<Opened, OpenError> {
        let granted = self.is_granted(&envelope.source);
        let source = envelope.source.clone();
        let mut opened = Opened::default();
        let Value::Object(data) = &mut envelope.data else { return Ok(opened) };
        for (field, value) in data.iter_mut() {
            let Some((token, sealed)) = protected_value(value) else { continue };
            opened.fields.push(field.clone());
            if !granted {
                *value = Value::String(token);
                continue;
            }
            let clear = self.unseal(&source, field, &sealed).await?;
            opened.revealed.push((clear.clone(), token));
            *value = Value::String(clear);
        }
        Ok(opened)
    }

    async fn unseal(&self, source: &str, field: &str, sealed: &str) -> Result<String, OpenError> {
        let refused = |problem: String| OpenError::Refused {
            field: field.to_owned(),
            source_product: source.to_owned(),
            problem,
        };
        let sealed = Sealed::parse(sealed).map_err(|e| refused(e.to_string()))?;
        let key = self.opening_key(source, field, &sealed).await?;
        key.open(&field_aad(source, field), &sealed).map_err(|e| refused(e.to_string()))
    }

    async fn opening_key(&self, source: &str, field: &str, sealed: &Sealed) -> Result<Arc<OpeningKey>, OpenError> {
        if let Some(key) = self.cached().get(&sealed.wrapped) {
            return Ok(Arc::clone(key));
        }
        let plaintext = self.keys.unwrap(&sealed.wrapped_bytes(), source).await.map_err(|error| match error {
            KeyError::Unavailable { .. } => {
                OpenError::Unavailable { field: field.to_owned(), source_product: source.to_owned(), error }
            }
            KeyError::Refused { .. } | KeyError::Invalid(_) => OpenError::Refused {
                field: field.to_owned(),
                source_product: source.to_owned(),
                problem: error.to_string(),
            },
        })?;
        let key = Arc::new(OpeningKey::new(&plaintext).map_err(|e: SealError| OpenError::Refused {
            field: field.to_owned(),
            source_product: source.to_owned(),
            problem: e.to_string(),
        })?);
        let mut cache = self.cached();
        if cache.len() >= CACHED_KEYS {
            cache.clear();
        }
        cache.insert(sealed.wrapped.clone(), Arc::clone(&key));
        Ok(key)
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OpeningKey>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `{"token": "...", "sealed": "..."}` and nothing else: the protected form.
fn protected_value(value: &Value) -> Option<(String, String)> {
    let Value::Object(object) = value else { return None };
    match (object.len(), object.get("token"), object.get("sealed")) {
        (2, Some(Value::String(token)), Some(Value::String(sealed))) => Some((token.clone(), sealed.clone())),
        _ => None,
    }
}
