//! The key port on KMS: the mesh's token key derived once from its HMAC key,
//! data keys from the producing domain's key, unwrapped by the consumers the
//! key's policy lets decrypt.

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, MacAlgorithmSpec};
use mesh::pii::{CONTEXT_KEY, DataKey, KeyError, KeyService, TokenKey};
use tracing::instrument;

/// HKDF-Expand's first block (RFC 5869) with the KMS HMAC key as the
/// pseudorandom key: `T(1) = HMAC(K, info ‖ 0x01)`. Changing `info` (a new
/// token generation) changes every token; the key itself never leaves KMS.
pub const TOKEN_KEY_INFO: &[u8] = b"mesh pii token key v1\x01";

/// KMS keys for protecting fields: the mesh's token key (HMAC_256) and, for
/// a producer, its domain's key (symmetric) that wraps its data keys.
#[derive(Debug, Clone)]
pub struct KmsKeys {
    client: aws_sdk_kms::Client,
    token_key_arn: Option<String>,
    sealing_key_arn: Option<String>,
}

impl KmsKeys {
    pub fn new(client: aws_sdk_kms::Client) -> Self {
        Self { client, token_key_arn: None, sealing_key_arn: None }
    }

    /// The mesh's HMAC key the token key is derived from.
    pub fn with_token_key(mut self, arn: impl Into<String>) -> Self {
        self.token_key_arn = Some(arn.into());
        self
    }

    /// The producing domain's key, wrapping the data keys.
    pub fn with_sealing_key(mut self, arn: impl Into<String>) -> Self {
        self.sealing_key_arn = Some(arn.into());
        self
    }
}

fn not_configured(operation: &'static str, what: &str) -> KeyError {
    KeyError::Refused { operation, reason: format!("no {what} is configured") }
}

/// A KMS error as the port's: refused (a grant would help), invalid (the
/// blob), or unavailable (try again).
fn key_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> KeyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = error.as_service_error().and_then(ProvideErrorMetadata::code).map(str::to_owned);
    let message = error.as_service_error().and_then(ProvideErrorMetadata::message).unwrap_or_default().to_owned();
    match code.as_deref() {
        Some(
            "AccessDeniedException"
            | "NotFoundException"
            | "DisabledException"
            | "KMSInvalidStateException"
            | "InvalidKeyUsageException"
            | "UnrecognizedClientException",
        ) => KeyError::Refused { operation, reason: format!("{}: {message}", code.unwrap_or_default()) },
        Some("InvalidCiphertextException" | "IncorrectKeyException") => {
            KeyError::Invalid(format!("{}: {message}", code.unwrap_or_default()))
        }
        _ => KeyError::Unavailable { operation, source: error.into() },
    }
}

impl KeyService for KmsKeys {
    #[instrument(skip_all)]
    async fn token_key(&self) -> Result<TokenKey, KeyError> {
        const OPERATION: &str = "GenerateMac";
        let arn = self.token_key_arn.as_deref().ok_or_else(|| not_configured(OPERATION, "token key"))?;
        let output = self
            .client
            .generate_mac()
            .key_id(arn)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(TOKEN_KEY_INFO))
            .send()
            .await
            .map_err(|e| key_error(OPERATION, e))?;
        let mac = output.mac().ok_or_else(|| KeyError::Invalid("GenerateMac answered no MAC".into()))?;
        Ok(TokenKey::new(mac.as_ref()))
    }

    #[instrument(skip_all, fields(context))]
    async fn data_key(&self, context: &str) -> Result<DataKey, KeyError> {
        const OPERATION: &str = "GenerateDataKey";
        let arn = self.sealing_key_arn.as_deref().ok_or_else(|| not_configured(OPERATION, "sealing key"))?;
        let output = self
            .client
            .generate_data_key()
            .key_id(arn)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| key_error(OPERATION, e))?;
        match (output.plaintext(), output.ciphertext_blob()) {
            (Some(plaintext), Some(wrapped)) => {
                Ok(DataKey { plaintext: plaintext.as_ref().to_vec(), wrapped: wrapped.as_ref().to_vec() })
            }
            _ => Err(KeyError::Invalid("GenerateDataKey answered no key".into())),
        }
    }

    #[instrument(skip_all, fields(context))]
    async fn unwrap(&self, wrapped: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        const OPERATION: &str = "Decrypt";
        let output = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(CONTEXT_KEY, context)
            .send()
            .await
            .map_err(|e| key_error(OPERATION, e))?;
        output
            .plaintext()
            .map(|p| p.as_ref().to_vec())
            .ok_or_else(|| KeyError::Invalid("Decrypt answered no key".into()))
    }
}
