//! Routes: `POST /customers` (201 with the new id), `GET /customers/{id}`
//! (limit, reserved and available credit).

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use customers::contract::CUSTOMER_CREDIT_WRITES;
use customers::{Customer, CustomerId, RawRegisterCustomer, RegisterCustomer};
use mesh::event::Emitter;
use mesh::schemas::ProductContract;
use mesh::store::{StateStore, StoreError};
use mesh_aws::dynamo_store::DynamoStore;
use mesh_aws::http::event_meta;
use mesh_aws::http::{ApiError, entity_id, json_body, json_response, path_param, route_key};
use mesh_aws::{ConfigError, Settings};
use serde_json::json;
use uuid::Uuid;

pub struct Deps<St> {
    pub store: St,
    pub emitter: Emitter,
}

impl Deps<DynamoStore<Customer>> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let writes = ProductContract::bundled(CUSTOMER_CREDIT_WRITES)?;
        let (store, emitter) = Settings::from_env()?.store_and_emitter(None, writes).await?;
        Ok(Self { store, emitter })
    }
}

pub async fn handle<St: StateStore<Customer>>(
    deps: &Deps<St>,
    request: ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let route = route_key(&request);
    let result = match route.as_str() {
        "POST /customers" => register(deps, &request).await,
        "GET /customers/{id}" => get(deps, &request).await,
        _ => Err(ApiError::not_found(format!("no route for {route:?}"))),
    };
    result.unwrap_or_else(|error| {
        tracing::info!(route, status = error.status, error = %error.message, "request refused");
        error.into()
    })
}

async fn register<St: StateStore<Customer>>(
    deps: &Deps<St>,
    request: &ApiGatewayV2httpRequest,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let raw: RawRegisterCustomer =
        serde_json::from_value(json_body(request)?).map_err(|e| ApiError::bad_request("body", e.to_string()))?;
    let customer_id = CustomerId::from_uuid(entity_id(request, "customer", Uuid::now_v7)?);
    let command = RegisterCustomer::parse(raw, customer_id)?;
    let customer_id = customer_id.to_string();
    let events = Customer::register(command.clone());
    let customer =
        Customer::from_events(&events).ok_or_else(|| ApiError::internal("registering produced no customer"))?;
    let commit = deps.emitter.created(&customer_id, customer, &events, &event_meta(request), None)?;
    match deps.store.commit(commit).await {
        Ok(()) => Ok(json_response(201, &json!({ "id": customer_id }))),
        // A retry of a request that was stored: its key named it, or the
        // store retried a write that had landed.
        Err(StoreError::AlreadyExists { .. }) => {
            let stored = deps.store.load(&customer_id).await?.ok_or_else(|| not_found(&customer_id))?;
            if !stored.state.was_registered_by(&command) {
                return Err(ApiError::idempotency_key_reused("customer"));
            }
            Ok(json_response(201, &json!({ "id": customer_id })))
        }
        Err(error) => Err(error.into()),
    }
}

fn not_found(customer_id: &str) -> ApiError {
    ApiError::not_found(format!("customer {customer_id} not found"))
}

async fn get<St: StateStore<Customer>>(
    deps: &Deps<St>,
    request: &ApiGatewayV2httpRequest,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let customer_id = CustomerId::parse(path_param(request, "id")?)
        .map_err(|e| ApiError::bad_request("id", e.to_string()))?
        .to_string();
    let customer = deps.store.load(&customer_id).await?.ok_or_else(|| not_found(&customer_id))?.state;
    Ok(json_response(
        200,
        &json!({
            "id": customer_id,
            "name": customer.name,
            "credit_limit_cents": customer.credit_limit_cents,
            "reserved_cents": customer.reserved_cents(),
            "available_cents": customer.available_cents(),
            "reservations": customer.reservations,
        }),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use mesh::pii::LocalKeys;
    use mesh::store::memory::MemoryStore;
    use mesh_aws::http::{recorded_request, response_json};
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn deps() -> Deps<MemoryStore<Customer>> {
        Deps {
            store: MemoryStore::default(),
            emitter: Emitter::new(ProductContract::bundled(CUSTOMER_CREDIT_WRITES).unwrap()).protecting(
                std::sync::Arc::new(LocalKeys::from_seed("test").protector("customers/customer-credit").unwrap()),
            ),
        }
    }

    fn request(route: &str, id: Option<&str>, body: Option<&str>) -> ApiGatewayV2httpRequest {
        recorded_request(include_str!("../fixtures/post-customers.json"), route, id, body).unwrap()
    }

    fn body(response: &ApiGatewayV2httpResponse) -> Value {
        response_json(response)
    }

    #[tokio::test]
    async fn a_retried_registration_with_the_same_idempotency_key_names_the_same_customer_once() {
        let deps = deps();
        let send = |text: &str| {
            let mut request = request("POST /customers", None, Some(text));
            request.headers.insert("idempotency-key", "signup-7".parse().unwrap());
            request
        };
        let ada = r#"{"name": "Ada Lovelace", "credit_limit_cents": 50000}"#;

        let first = handle(&deps, send(ada)).await;
        let retry = handle(&deps, send(ada)).await;
        let other = handle(&deps, send(&ada.replace("50000", "1"))).await;

        assert_eq!((first.status_code, retry.status_code), (201, 201), "{:?}", body(&retry));
        assert_eq!(body(&first)["id"], body(&retry)["id"]);
        assert_eq!(other.status_code, 422, "{:?}", body(&other));
        assert_eq!((deps.store.entities(), deps.store.outbox().len()), (1, 1));
    }

    #[tokio::test]
    async fn registers_a_customer_and_its_event_in_one_commit_then_reads_it() {
        let deps = deps();
        let body_text = r#"{"name": "Ada Lovelace", "credit_limit_cents": 50000}"#;
        let created = handle(&deps, request("POST /customers", None, Some(body_text))).await;
        assert_eq!(created.status_code, 201, "{:?}", body(&created));
        let id = body(&created)["id"].as_str().unwrap().to_owned();
        assert_eq!(deps.store.outbox().len(), 1);
        assert_eq!(deps.store.outbox()[0].event_type, "CustomerRegistered");
        let read = handle(&deps, request("GET /customers/{id}", Some(&id), None)).await;
        assert_eq!(read.status_code, 200);
        assert_eq!(body(&read)["available_cents"], 50000);
    }

    const ADA: &str = r#"{"name": "Ada Lovelace", "credit_limit_cents": 50000}"#;

    #[tokio::test]
    async fn a_registration_in_the_callers_trace_writes_its_event_in_that_trace() {
        let deps = deps();

        let response = handle(&deps, request("POST /customers", None, Some(ADA))).await;

        assert_eq!(response.status_code, 201, "{:?}", body(&response));
        let registered = deps.store.outbox().remove(0);
        assert_eq!(
            registered.traceparent.as_deref(),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            "the recorded request's traceparent"
        );
    }

    #[tokio::test]
    async fn a_malformed_traceparent_is_left_out_and_the_registration_still_succeeds() {
        let deps = deps();
        let mut request = request("POST /customers", None, Some(ADA));
        request.headers.insert("traceparent", "00-not-a-trace-01".parse().unwrap());

        let response = handle(&deps, request).await;

        assert_eq!(response.status_code, 201, "{:?}", body(&response));
        assert_eq!(deps.store.outbox().remove(0).traceparent, None);
    }

    fn near_command() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            Just(Value::from("Grace Hopper")),
        ];
        (value.clone(), value).prop_map(|(name, limit)| json!({"name": name, "credit_limit_cents": limit}).to_string())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any body, route or id: a 2xx or a 4xx whose message says what is
        /// wrong, and nothing written unless the command was accepted.
        #[test]
        fn any_request_is_answered_with_a_reason_and_writes_only_when_accepted(
            route in prop::sample::select(vec!["POST /customers", "GET /customers/{id}", "PUT /customers"]),
            id in prop::option::of(any::<String>()),
            body_text in prop::option::of(prop_oneof![any::<String>(), near_command()]),
        ) {
            let deps = deps();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let response = runtime.block_on(handle(&deps, request(route, id.as_deref(), body_text.as_deref())));
            let status = response.status_code;
            prop_assert!(matches!(status, 201 | 400 | 404 | 413), "status {status}: {:?}", body(&response));
            if status >= 400 {
                let message = body(&response)["error"].as_str().map(str::to_owned).unwrap_or_default();
                prop_assert!(!message.is_empty(), "a {status} without a message");
                prop_assert!(deps.store.outbox().is_empty());
                prop_assert_eq!(deps.store.entities(), 0);
            } else {
                prop_assert_eq!(deps.store.outbox().len(), 1);
            }
        }
    }
}
