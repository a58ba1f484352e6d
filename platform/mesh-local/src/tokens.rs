//! Access tokens for a client of a deployed mesh's HTTP APIs, as a service
//! gets them: its id from the identity stack's outputs, its secret from
//! Cognito (`DescribeUserPoolClient`), and a token from the token endpoint
//! (`grant_type=client_credentials`). Only the harness knows where that
//! endpoint is on the embedded emulator. A token is reused until shortly
//! before it expires.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use mesh_infra::templates::client_id_parameter;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::http::Bytes;
use crate::{DeployedMesh, Emulator, HarnessError, HttpClient};

/// How long before its expiry a token is replaced.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// The tokens of one client, or none at all where the endpoint serves no
/// identity (LocalStack community: the APIs there check no token).
#[derive(Debug)]
pub struct Tokens {
    client: Option<Credentials>,
    /// By the scopes asked for ("" = every scope the client is allowed).
    cache: Mutex<HashMap<String, Cached>>,
}

/// What a client sends to the token endpoint.
#[derive(Debug, Clone)]
struct Credentials {
    http: HttpClient,
    name: String,
    token_endpoint: String,
    client_id: String,
    secret: String,
}

#[derive(Debug, Clone)]
struct Cached {
    token: String,
    renew_at: Instant,
}

impl Tokens {
    /// The client named `client` in the descriptors (`reference-client`) of
    /// `mesh`. No tokens when the endpoint serves no Cognito or the mesh
    /// has no identity stack (no API takes a token).
    pub async fn for_client(emulator: &Emulator, mesh: &DeployedMesh, client: &str) -> Result<Self, HarnessError> {
        let none = Self { client: None, cache: Mutex::new(HashMap::new()) };
        let Some(identity) = mesh.identity().filter(|_| emulator.capabilities().identity) else {
            return Ok(none);
        };
        let client_id = identity.output(&client_id_parameter(client))?.to_owned();
        let pool = identity.output("UserPoolId")?;
        let cognito = aws_sdk_cognitoidentityprovider::Client::new(&emulator.sdk_config());
        let described = cognito
            .describe_user_pool_client()
            .user_pool_id(pool)
            .client_id(&client_id)
            .send()
            .await
            .map_err(HarnessError::aws(format!("Cognito DescribeUserPoolClient {client} ({client_id})")))?;
        let secret = described.user_pool_client().and_then(|c| c.client_secret()).ok_or_else(|| {
            HarnessError::Environment(format!("the app client {client} ({client_id}) has no secret: GenerateSecret"))
        })?;
        let credentials = Credentials {
            http: emulator.http_client().clone(),
            name: client.to_owned(),
            token_endpoint: token_endpoint(emulator, identity.output("TokenEndpoint")?),
            client_id,
            secret: secret.to_owned(),
        };
        Ok(Self { client: Some(credentials), ..none })
    }

    /// Whether there are tokens to get (false where nothing issues them).
    pub fn issued(&self) -> bool {
        self.client.is_some()
    }

    /// The client's id (the tokens' audience), if there is a client.
    pub fn client_id(&self) -> Option<&str> {
        self.client.as_ref().map(|c| c.client_id.as_str())
    }

    /// Where the client gets its tokens, if there is a client.
    pub fn token_endpoint(&self) -> Option<&str> {
        self.client.as_ref().map(|c| c.token_endpoint.as_str())
    }

    /// A token with every scope the client is allowed; `None` where nothing
    /// issues tokens.
    pub async fn bearer(&self) -> Result<Option<String>, HarnessError> {
        self.bearer_with(&[]).await
    }

    /// A token with only `scopes` (all the client's when empty).
    pub async fn bearer_with(&self, scopes: &[&str]) -> Result<Option<String>, HarnessError> {
        let Some(client) = &self.client else { return Ok(None) };
        let key = scopes.join(" ");
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.get(&key).filter(|c| Instant::now() < c.renew_at) {
            return Ok(Some(cached.token.clone()));
        }
        let cached = client.token(&key).await?;
        cache.insert(key, cached.clone());
        Ok(Some(cached.token))
    }
}

impl Credentials {
    /// `POST grant_type=client_credentials[&scope=...]` with the id and secret as HTTP Basic.
    async fn token(&self, scopes: &str) -> Result<Cached, HarnessError> {
        let mut form = "grant_type=client_credentials".to_owned();
        if !scopes.is_empty() {
            form.push_str(&format!("&scope={}", scopes.replace(' ', "%20").replace('/', "%2F")));
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.client_id, self.secret));
        let authorization = format!("Basic {basic}");
        let body = Some(("application/x-www-form-urlencoded", Bytes::from(form)));
        let (status, answer) =
            self.http.send("POST", &self.token_endpoint, body, &[("authorization", &authorization)]).await?;
        let refused = |why: &str| {
            HarnessError::Environment(format!(
                "the token endpoint {} refused {} a token (scopes: {}): {why}: {status} {answer}",
                self.token_endpoint,
                self.name,
                if scopes.is_empty() { "all" } else { scopes }
            ))
        };
        if status != 200 {
            return Err(refused("not 200"));
        }
        let token = answer["access_token"].as_str().ok_or_else(|| refused("no access_token"))?.to_owned();
        let lifetime = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(0));
        Ok(Cached { token, renew_at: Instant::now() + lifetime.saturating_sub(RENEW_BEFORE) })
    }
}

/// The token endpoint a client of this endpoint uses: the identity stack's
/// (`https://<domain>.auth.<region>.amazoncognito.com/oauth2/token`), except
/// on the embedded MiniStack, which serves it at its own `/oauth2/token`.
pub fn token_endpoint(emulator: &Emulator, from_stack: &str) -> String {
    if emulator.is_embedded() {
        format!("{}/oauth2/token", emulator.endpoint().trim_end_matches('/'))
    } else {
        from_stack.to_owned()
    }
}

/// The claims of a token (its middle part), for tests that craft others.
pub fn claims(token: &str) -> Result<Value, HarnessError> {
    let bad = |why: String| HarnessError::Environment(format!("not a JWT ({why})"));
    let payload = token.split('.').nth(1).ok_or_else(|| bad("no payload".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).map_err(|e| bad(e.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))
}
