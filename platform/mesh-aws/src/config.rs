//! Settings a function reads once at init, failing loudly on what is missing.
//!
//! Only standard AWS settings reach the SDK (`AWS_ENDPOINT_URL`, region,
//! credentials); nothing here knows whether AWS or an emulator answers.

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use mesh::env;
use mesh::event::Emitter;
use mesh::pii::{KeyLimits, Opener, ProtectError, Protector};
use mesh::schemas::{ContractError, ProductContract};

use crate::dynamo_store::{DynamoStore, Tables};
use crate::kms::KmsKeys;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0} (the domain's CloudFormation template sets it)")]
    Missing(&'static str),
    #[error("environment variable {name} is {value:?}: {problem}")]
    Invalid { name: &'static str, value: String, problem: &'static str },
    #[error("the schemas built into this function are broken: {0}")]
    Contract(#[from] ContractError),
    /// The product has PII and its keys could not be had: the function
    /// must not start and write it in clear.
    #[error("the keys protecting {product}'s PII could not be had at init")]
    Keys {
        product: String,
        #[source]
        source: ProtectError,
    },
}

/// Reads one required setting.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// Reads a setting that may be absent (or empty).
pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// Reads an optional setting through `parse` (absent: `parse("")`); a
/// value it refuses is `problem`, with the value.
pub fn parsed<T, E>(
    name: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
    problem: &'static str,
) -> Result<T, ConfigError> {
    interpret(name, optional(name).unwrap_or_default(), parse, problem)
}

fn interpret<T, E>(
    name: &'static str,
    text: String,
    parse: impl FnOnce(&str) -> Result<T, E>,
    problem: &'static str,
) -> Result<T, ConfigError> {
    parse(&text).map_err(|_| ConfigError::Invalid { name, value: text, problem })
}

/// Reads an optional duration in seconds.
pub fn seconds_or(name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value.trim().parse::<u64>().map(Duration::from_secs).map_err(|_| ConfigError::Invalid {
            name,
            value,
            problem: "expected a whole number of seconds",
        }),
    }
}

/// How long a consumed event id (and an entity's position) is remembered:
/// `INBOX_RETENTION_SECONDS`, 14 days by default.
pub fn inbox_retention() -> Result<Duration, ConfigError> {
    seconds_or(env::INBOX_RETENTION_SECONDS, 14 * DAY)
}

/// The settings every domain function shares.
#[derive(Debug, Clone)]
pub struct Settings {
    pub domain: String,
    pub product: String,
    pub state_table: String,
    pub outbox_table: String,
    /// How long outbox items stay after their event (then TTL removes them).
    pub outbox_retention: Duration,
    /// How long a consumed event id is remembered for deduplication.
    pub inbox_retention: Duration,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            domain: required(env::DOMAIN)?,
            product: required(env::PRODUCT)?,
            state_table: required(env::STATE_TABLE)?,
            outbox_table: required(env::OUTBOX_TABLE)?,
            outbox_retention: seconds_or(env::OUTBOX_RETENTION_SECONDS, 7 * DAY)?,
            inbox_retention: inbox_retention()?,
        })
    }
}

impl Settings {
    /// What every domain function builds once at init: its store (with an
    /// inbox table for consumers) and the emitter stamping its product's
    /// events with the schemas in `writes`, which must be the product the
    /// template deployed this function for.
    pub async fn store_and_emitter<S>(
        self,
        inbox: Option<String>,
        writes: ProductContract,
    ) -> Result<(DynamoStore<S>, Emitter), ConfigError> {
        let deployed_for = format!("{}/{}", self.domain, self.product);
        if writes.source() != deployed_for {
            return Err(ConfigError::Invalid {
                name: env::PRODUCT,
                value: deployed_for,
                problem: "the function was built to write a different product",
            });
        }
        let sdk = sdk_config().await;
        let mut emitter = Emitter::new(writes);
        if emitter.needs_protection() {
            emitter = emitter.protecting(protector(&sdk, &deployed_for).await?);
        }
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        let tables = Tables { state: self.state_table, outbox: self.outbox_table, inbox };
        let store = DynamoStore::new(client, tables, self.outbox_retention, self.inbox_retention);
        Ok((store, emitter))
    }
}

/// How often a producer checks whether its data key has sealed enough.
const RENEWAL_CHECK: Duration = Duration::from_secs(15);

/// The protector of `source`'s PII: the token key from `TOKEN_KEY_ARN` and a
/// first data key under `SEALING_KEY_ARN` (two KMS calls, now), then a new
/// data key whenever the current one has sealed enough, off the event path.
pub async fn protector(sdk: &SdkConfig, source: &str) -> Result<Arc<Protector>, ConfigError> {
    let keys = KmsKeys::new(aws_sdk_kms::Client::new(sdk))
        .with_token_key(required(env::TOKEN_KEY_ARN)?)
        .with_sealing_key(required(env::SEALING_KEY_ARN)?);
    let protector = Protector::new(&keys, source, KeyLimits::default())
        .await
        .map_err(|source_error| ConfigError::Keys { product: source.to_owned(), source: source_error })?;
    let protector = Arc::new(protector);
    let renewing = Arc::clone(&protector);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RENEWAL_CHECK);
        loop {
            tick.tick().await;
            if renewing.wants_new_data_key()
                && let Err(error) = renewing.renew(&keys).await
            {
                tracing::warn!(error = %mesh::error::Chain(&error), "could not renew the PII data key; the current one goes on");
            }
        }
    });
    Ok(protector)
}

/// What a consumer's subscriber opens protected fields with: the products
/// of `PII_READS` in clear (their data keys unwrapped through KMS, once
/// each), every other product's as tokens.
pub fn opener(sdk: &SdkConfig) -> Result<Opener<KmsKeys>, ConfigError> {
    let text = optional(env::PII_READS).unwrap_or_default();
    let granted: Vec<String> = text.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if granted.iter().any(|p| p.split('/').filter(|part| !part.is_empty()).count() != 2) {
        return Err(ConfigError::Invalid {
            name: env::PII_READS,
            value: text,
            problem: "expected <domain>/<product>, comma-separated",
        });
    }
    Ok(Opener::new(KmsKeys::new(aws_sdk_kms::Client::new(sdk)), granted))
}

/// The settings of a read-side consumer: it keeps a view (state and inbox)
/// and publishes nothing, so it has no product and no outbox.
#[derive(Debug, Clone)]
pub struct ViewSettings {
    pub domain: String,
    pub state_table: String,
    pub inbox_table: String,
    /// How long a consumed event id is remembered for deduplication.
    pub inbox_retention: Duration,
}

impl ViewSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            domain: required(env::DOMAIN)?,
            state_table: required(env::STATE_TABLE)?,
            inbox_table: required(env::INBOX_TABLE)?,
            inbox_retention: inbox_retention()?,
        })
    }

    /// The view's store: the state table and the inbox. It has no outbox
    /// table, so a commit must carry no events (a view emits none).
    pub async fn store<S>(self) -> DynamoStore<S> {
        let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        let tables = Tables { state: self.state_table, outbox: String::new(), inbox: Some(self.inbox_table) };
        DynamoStore::new(client, tables, Duration::ZERO, self.inbox_retention)
    }
}

/// The SDK configuration from the standard AWS environment.
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_that_does_not_parse_names_itself_its_value_and_what_was_expected() {
        let text = r#"[{"step": 1}]"#.to_owned();

        let error = interpret("DEADLINES", text, mesh::deadline::parse_rules, "expected a JSON list of rules");

        assert_eq!(
            error.unwrap_err().to_string(),
            r#"environment variable DEADLINES is "[{\"step\": 1}]": expected a JSON list of rules"#
        );
    }

    #[test]
    fn an_absent_setting_is_parsed_as_empty() {
        assert_eq!(parsed("MESH_TEST_NEVER_SET", mesh::deadline::parse_rules, "-").unwrap(), []);
    }
}
