//! Who may call the reference mesh's HTTP APIs, on the emulator with the
//! real authorizers: only a token of a client the API accepts, from the
//! mesh's issuer, unexpired, with the route's scope. Everything else is a
//! 4xx, and nothing is written. One mesh is deployed for all the checks
//! (nextest runs each test in a process of its own), each check a function
//! named after what it shows.
//!
//! API Gateway answers a refused token itself, with a body an HTTP API
//! cannot change: `{"message":"Unauthorized"}` (401) and
//! `{"message":"Forbidden"}` (403).
#![allow(clippy::unwrap_used)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mesh_local::{DeployOptions, HttpClient, tokens};
use mesh_tests::TestMesh;
use serde_json::{Value, json};
use uuid::Uuid;

const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;

/// A request to one of the APIs with these headers, answering (status, body).
struct Caller<'a> {
    http: &'a HttpClient,
    orders: String,
    customers: String,
}

impl Caller<'_> {
    async fn post(&self, url: &str, body: Value, authorization: Option<&str>) -> (u16, Value) {
        let headers: Vec<(&str, &str)> = authorization.iter().map(|a| ("authorization", *a)).collect();
        self.http.http_with_headers("POST", url, Some(body), &headers).await.unwrap()
    }

    async fn get(&self, url: &str, authorization: Option<&str>) -> (u16, Value) {
        let headers: Vec<(&str, &str)> = authorization.iter().map(|a| ("authorization", *a)).collect();
        self.http.http_with_headers("GET", url, None, &headers).await.unwrap()
    }

    fn order(&self) -> (String, Value) {
        (format!("{}/orders", self.orders), json!({"customer_id": Uuid::now_v7().to_string(), "amount_cents": 100}))
    }

    fn customer(&self) -> (String, Value) {
        (format!("{}/customers", self.customers), json!({"name": "Mallory", "credit_limit_cents": 1_000_000_000}))
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Signs `claims` with the key MiniStack signs the pool's access tokens
/// with (`<STATE_DIR>/cognito-pool-keys/<pool>-access.pem`, PKCS#8), under
/// the `kid` of a real token: valid signatures on claims of our choosing.
struct Forger {
    key: RsaKeyPair,
    kid: String,
}

impl Forger {
    fn new(mesh: &TestMesh, real_token: &str) -> Self {
        let pool = mesh.mesh.identity().unwrap().output("UserPoolId").unwrap().to_owned();
        let path = mesh.emulator.state_dir().unwrap().join(format!("cognito-pool-keys/{pool}-access.pem"));
        let pem = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(real_token.split('.').next().unwrap()).unwrap()).unwrap();
        Self { key: RsaKeyPair::from_pkcs8(&der).unwrap(), kid: header["kid"].as_str().unwrap().to_owned() }
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(&json!({"alg": "RS256", "kid": self.kid}), claims)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apis_answer_only_a_valid_token_with_the_routes_scope_and_write_nothing_for_the_rest() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let token = mesh.tokens.bearer().await.unwrap().expect("the emulator issues tokens");
    let caller = Caller {
        http: mesh.emulator.http_client(),
        orders: mesh.endpoints.orders_api.trim_end_matches('/').to_owned(),
        customers: mesh.endpoints.customers_api.trim_end_matches('/').to_owned(),
    };

    a_valid_token_with_the_scope_reaches_the_function(&caller, &token).await;
    a_request_without_a_token_is_401_unauthorized(&caller).await;
    a_token_without_the_routes_scope_is_403_forbidden(&mesh, &caller).await;
    malformed_tokens_are_401_unauthorized(&caller, &token).await;
    let forger = Forger::new(&mesh, &token);
    expired_wrong_issuer_and_wrong_audience_tokens_are_401_unauthorized(&caller, &forger, &token).await;
    a_token_of_a_client_the_api_does_not_accept_is_401_unauthorized(&mesh, &caller).await;
    oversized_bodies_are_refused_with_413(&caller, &token).await;
    nothing_was_written(&mesh).await;
    mesh.stop().await.unwrap();
}

/// The control: the same routes answer the function's own 4xx to a valid
/// token (an order that does not exist), so the refusals below are the gateway's.
async fn a_valid_token_with_the_scope_reaches_the_function(caller: &Caller<'_>, token: &str) {
    let (status, body) =
        caller.get(&format!("{}/orders/{}", caller.orders, Uuid::now_v7()), Some(&bearer(token))).await;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("not found")), "{body}");
    let (status, body) = caller.post(&format!("{}/customers", caller.customers), json!({}), Some(&bearer(token))).await;
    assert_eq!(status, 400, "a bad body with a good token is the function's 400: {body}");
}

async fn a_request_without_a_token_is_401_unauthorized(caller: &Caller<'_>) {
    for (url, body) in [caller.order(), caller.customer()] {
        assert_eq!(caller.post(&url, body, None).await, (401, json_of(UNAUTHORIZED)), "POST {url}");
    }
    let url = format!("{}/orders/{}/cancel", caller.orders, Uuid::now_v7());
    assert_eq!(caller.post(&url, json!({}), None).await, (401, json_of(UNAUTHORIZED)), "POST {url}");
    let url = format!("{}/customers/{}", caller.customers, Uuid::now_v7());
    assert_eq!(caller.get(&url, None).await, (401, json_of(UNAUTHORIZED)), "GET {url}");
}

/// A token of an accepted client, but for reading only (or for the other
/// domain's API), may not write.
async fn a_token_without_the_routes_scope_is_403_forbidden(mesh: &TestMesh, caller: &Caller<'_>) {
    let read_only = mesh.tokens.bearer_with(&["orders/read", "customers/read"]).await.unwrap().unwrap();
    let claims = tokens::claims(&read_only).unwrap();
    let mut scopes: Vec<&str> = claims["scope"].as_str().unwrap().split(' ').collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["customers/read", "orders/read"]);
    for (url, body) in [caller.order(), caller.customer()] {
        assert_eq!(caller.post(&url, body, Some(&bearer(&read_only))).await, (403, json_of(FORBIDDEN)), "POST {url}");
    }
    let customers_only = mesh.tokens.bearer_with(&["customers/write", "customers/read"]).await.unwrap().unwrap();
    let (url, body) = caller.order();
    assert_eq!(caller.post(&url, body, Some(&bearer(&customers_only))).await, (403, json_of(FORBIDDEN)));
    let url = format!("{}/orders/{}", caller.orders, Uuid::now_v7());
    assert_eq!(caller.get(&url, Some(&bearer(&customers_only))).await, (403, json_of(FORBIDDEN)), "GET {url}");
}

async fn malformed_tokens_are_401_unauthorized(caller: &Caller<'_>, token: &str) {
    // The signature's first character: its last may hold only padding bits,
    // and a change there leaves the signature as it was.
    let signature_at = token.rfind('.').unwrap() + 1;
    let first = token.as_bytes()[signature_at];
    let mut tampered = token.to_owned();
    tampered.replace_range(signature_at..=signature_at, if first == b'A' { "B" } else { "A" });
    let (header, rest) = token.split_once('.').unwrap();
    let unsigned_none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), rest.split('.').next().unwrap());
    let garbage_header = format!("{}.{rest}", &header[..header.len() / 2]);
    for authorization in [
        "garbage".to_owned(),
        "Bearer".to_owned(),
        "Bearer a.b.c".to_owned(),
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("id:secret")),
        bearer(&tampered),
        bearer(&unsigned_none),
        bearer(&garbage_header),
        bearer(&"x".repeat(8 * 1024)),
    ] {
        let (url, body) = caller.order();
        let shown = &authorization[..authorization.len().min(40)];
        assert_eq!(caller.post(&url, body, Some(&authorization)).await, (401, json_of(UNAUTHORIZED)), "{shown}");
    }
}

/// Validly signed by the pool's own key, but not a token the API may take.
async fn expired_wrong_issuer_and_wrong_audience_tokens_are_401_unauthorized(
    caller: &Caller<'_>,
    forger: &Forger,
    token: &str,
) {
    let real = tokens::claims(token).unwrap();
    let now = chrono::Utc::now().timestamp();
    // The control: the forger's signature is the pool's, so only the claims decide.
    let resigned = forger.token(&real);
    let (url, _) = caller.order();
    let (status, body) = caller.post(&url, json!([]), Some(&bearer(&resigned))).await;
    assert_eq!(status, 400, "a re-signed real token passes the gateway: {body}");
    let with = |key: &str, value: Value| {
        let mut claims = real.clone();
        claims[key] = value;
        claims
    };
    let issuer = real["iss"].as_str().unwrap();
    for (what, claims) in [
        ("expired", with("exp", json!(now - 10))),
        ("not yet valid", with("nbf", json!(now + 3600))),
        ("issued in the future", with("iat", json!(now + 3600))),
        ("another pool's issuer", with("iss", json!(format!("{}x", issuer)))),
        ("another issuer", with("iss", json!("https://issuer.example.com"))),
        ("another client's audience", with("client_id", json!("not-a-client-of-this-api"))),
        ("an audience list of another client", {
            let mut claims = with("aud", json!(["not-a-client-of-this-api"]));
            claims.as_object_mut().unwrap().remove("client_id");
            claims
        }),
    ] {
        for (url, body) in [caller.order(), caller.customer()] {
            let answer = caller.post(&url, body, Some(&bearer(&forger.token(&claims)))).await;
            assert_eq!(answer, (401, json_of(UNAUTHORIZED)), "{what}: POST {url}");
        }
    }
    let unknown_key = forger.sign(&json!({"alg": "RS256", "kid": "not-the-pools-key"}), &real);
    let (url, body) = caller.order();
    assert_eq!(caller.post(&url, body, Some(&bearer(&unknown_key))).await, (401, json_of(UNAUTHORIZED)), "kid");
}

/// A real token of the mesh's issuer, for a client the APIs do not list.
async fn a_token_of_a_client_the_api_does_not_accept_is_401_unauthorized(mesh: &TestMesh, caller: &Caller<'_>) {
    let identity = mesh.mesh.identity().unwrap();
    let pool = identity.output("UserPoolId").unwrap();
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&mesh.emulator.sdk_config());
    let created = cognito
        .create_user_pool_client()
        .user_pool_id(pool)
        .client_name(format!("{}-stranger", mesh.mesh.prefix()))
        .generate_secret(true)
        .allowed_o_auth_flows_user_pool_client(true)
        .allowed_o_auth_flows(aws_sdk_cognitoidentityprovider::types::OAuthFlowType::ClientCredentials)
        .allowed_o_auth_scopes("orders/write")
        .allowed_o_auth_scopes("customers/write")
        .send()
        .await
        .unwrap();
    let client = created.user_pool_client().unwrap();
    let (id, secret) = (client.client_id().unwrap(), client.client_secret().unwrap());
    let endpoint = tokens::token_endpoint(&mesh.emulator, identity.output("TokenEndpoint").unwrap());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let form = Some(("application/x-www-form-urlencoded", "grant_type=client_credentials".into()));
    let (status, answer) =
        caller.http.send("POST", &endpoint, form, &[("authorization", &format!("Basic {basic}"))]).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let stranger = bearer(answer["access_token"].as_str().unwrap());
    for (url, body) in [caller.order(), caller.customer()] {
        assert_eq!(caller.post(&url, body, Some(&stranger)).await, (401, json_of(UNAUTHORIZED)), "POST {url}");
    }
}

/// A body over what a command takes is the function's 413, with why; one
/// over API Gateway's 10 MB payload limit never reaches it.
async fn oversized_bodies_are_refused_with_413(caller: &Caller<'_>, token: &str) {
    let authorization = bearer(token);
    let headers = [("authorization", authorization.as_str())];
    for size in [mesh_aws::http::MAX_BODY_BYTES + 1, 1024 * 1024] {
        let body =
            format!(r#"{{"customer_id": "{}", "amount_cents": 1, "pad": "{}"}}"#, Uuid::now_v7(), "x".repeat(size));
        let payload = Some(("application/json", body.clone().into()));
        let (url, _) = caller.order();
        let (status, answer) = caller.http.send("POST", &url, payload, &headers).await.unwrap();
        assert_eq!(status, 413, "{} bytes: {answer}", body.len());
        assert_eq!(
            answer["error"],
            format!("the body is {} bytes; this API takes at most {}", body.len(), mesh_aws::http::MAX_BODY_BYTES)
        );
    }
    let huge = vec![b'x'; 10 * 1024 * 1024 + 1];
    let (url, _) = caller.customer();
    let (status, answer) =
        caller.http.send("POST", &url, Some(("application/json", huge.into())), &headers).await.unwrap();
    eprintln!("a body of 10 MB + 1 byte: {status} {answer}");
    assert!((400..500).contains(&status), "10 MB + 1 byte: {status} {answer}");
}

/// Every refused request left the state and the outbox of both domains as
/// they were: empty.
async fn nothing_was_written(mesh: &TestMesh) {
    let dynamodb = aws_sdk_dynamodb::Client::new(&mesh.emulator.sdk_config());
    for domain in ["orders", "customers"] {
        let stack = mesh.mesh.domain(domain).unwrap();
        for table in [stack.state_table().unwrap(), stack.outbox_table().unwrap()] {
            let scan = dynamodb.scan().table_name(table).send().await.unwrap();
            assert_eq!(scan.count(), 0, "{domain}: {table} holds {:?}", scan.items());
        }
    }
}
