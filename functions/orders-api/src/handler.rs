//! Routes: `POST /orders` (202 with the new id; the saga decides later),
//! `GET /orders/{id}`, `POST /orders/{id}/cancel`.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use mesh::event::Emitter;
use mesh::schemas::ProductContract;
use mesh::store::{StateStore, StoreError};
use mesh_aws::dynamo_store::DynamoStore;
use mesh_aws::http::event_meta;
use mesh_aws::http::{ApiError, entity_id, json_body, json_response, path_param, route_key};
use mesh_aws::{ConfigError, Settings};
use orders::contract::ORDER_EVENTS_WRITES;
use orders::{Order, OrderError, OrderId, PlaceOrder, RawPlaceOrder};
use serde_json::json;
use uuid::Uuid;

pub struct Deps<St> {
    pub store: St,
    pub emitter: Emitter,
}

impl Deps<DynamoStore<Order>> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let writes = ProductContract::bundled(ORDER_EVENTS_WRITES)?;
        let (store, emitter) = Settings::from_env()?.store_and_emitter(None, writes).await?;
        Ok(Self { store, emitter })
    }
}

pub async fn handle<St: StateStore<Order>>(
    deps: &Deps<St>,
    request: ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let route = route_key(&request);
    let result = match route.as_str() {
        "POST /orders" => place(deps, &request).await,
        "GET /orders/{id}" => get(deps, &request).await,
        "POST /orders/{id}/cancel" => cancel(deps, &request).await,
        _ => Err(ApiError::not_found(format!("no route for {route:?}"))),
    };
    result.unwrap_or_else(|error| {
        tracing::info!(route, status = error.status, error = %error.message, "request refused");
        error.into()
    })
}

async fn place<St: StateStore<Order>>(
    deps: &Deps<St>,
    request: &ApiGatewayV2httpRequest,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let raw: RawPlaceOrder =
        serde_json::from_value(json_body(request)?).map_err(|e| ApiError::bad_request("body", e.to_string()))?;
    let order_id = OrderId::from_uuid(entity_id(request, "order", Uuid::now_v7)?);
    let command = PlaceOrder::parse(raw, order_id)?;
    let order_id = order_id.to_string();
    let events = Order::place(command.clone());
    let order = Order::from_events(&events).ok_or_else(|| ApiError::internal("placing produced no order"))?;
    let commit = deps.emitter.created(&order_id, order, &events, &event_meta(request), None)?;
    match deps.store.commit(commit).await {
        Ok(()) => Ok(json_response(202, &json!({ "id": order_id, "status": "pending" }))),
        Err(StoreError::AlreadyExists { .. }) => replay(deps, &command).await,
        Err(error) => Err(error.into()),
    }
}

/// The answer to a retried place: the same order, if this request stored it
/// (its key named it, or the store retried a write that had landed).
async fn replay<St: StateStore<Order>>(
    deps: &Deps<St>,
    command: &PlaceOrder,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let order_id = command.order_id.to_string();
    let stored = deps.store.load(&order_id).await?.ok_or_else(|| not_found(&order_id))?;
    if !stored.state.was_placed_by(command) {
        return Err(ApiError::idempotency_key_reused("order"));
    }
    Ok(json_response(202, &json!({ "id": order_id, "status": stored.state.status })))
}

async fn get<St: StateStore<Order>>(
    deps: &Deps<St>,
    request: &ApiGatewayV2httpRequest,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let order_id = order_id(request)?;
    let order = deps.store.load(&order_id).await?.ok_or_else(|| not_found(&order_id))?;
    Ok(json_response(200, &json!(order.state)))
}

async fn cancel<St: StateStore<Order>>(
    deps: &Deps<St>,
    request: &ApiGatewayV2httpRequest,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let order_id = order_id(request)?;
    let current = deps.store.load(&order_id).await?.ok_or_else(|| not_found(&order_id))?;
    let events = current.state.cancel().map_err(|e: OrderError| ApiError::conflict(e.to_string()))?;
    let commit = deps.emitter.decided(&order_id, current, &events, Order::apply, &event_meta(request), None)?;
    deps.store.commit(commit).await?;
    Ok(json_response(202, &json!({ "id": order_id, "status": "cancelled" })))
}

fn order_id(request: &ApiGatewayV2httpRequest) -> Result<String, ApiError> {
    let raw = path_param(request, "id")?;
    OrderId::parse(raw).map(|id| id.to_string()).map_err(|e| ApiError::bad_request("id", e.to_string()))
}

fn not_found(order_id: &str) -> ApiError {
    ApiError::not_found(format!("order {order_id} not found"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use mesh::pii::LocalKeys;
    use mesh::store::memory::MemoryStore;
    use mesh_aws::http::{recorded_request, response_json};
    use serde_json::Value;

    use super::*;

    fn deps() -> Deps<MemoryStore<Order>> {
        Deps {
            store: MemoryStore::default(),
            emitter: Emitter::new(ProductContract::bundled(ORDER_EVENTS_WRITES).unwrap()).protecting(
                std::sync::Arc::new(LocalKeys::from_seed("test").protector("orders/order-events").unwrap()),
            ),
        }
    }

    fn recorded_post() -> ApiGatewayV2httpRequest {
        serde_json::from_str(include_str!("../fixtures/post-orders.json")).unwrap()
    }

    fn request(route: &str, id: Option<&str>, body: Option<&str>) -> ApiGatewayV2httpRequest {
        recorded_request(include_str!("../fixtures/post-orders.json"), route, id, body).unwrap()
    }

    fn body(response: &ApiGatewayV2httpResponse) -> Value {
        response_json(response)
    }

    async fn place(deps: &Deps<MemoryStore<Order>>) -> String {
        let response = handle(deps, recorded_post()).await;
        assert_eq!(response.status_code, 202, "{:?}", body(&response));
        body(&response)["id"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn places_an_order_and_its_event_in_one_commit() {
        let deps = deps();
        let id = place(&deps).await;
        let order = deps.store.state(&id).unwrap();
        assert_eq!((order.version, order.state.amount_cents), (1, 1250));
        assert_eq!(order.state.channel.as_ref().map(orders::Channel::as_str), Some("web"));
        let outbox = deps.store.outbox();
        assert_eq!(outbox.len(), 1);
        let event = &outbox[0];
        assert_eq!(
            (event.event_type.as_str(), event.subject.as_str(), event.sequence),
            ("OrderPlaced", id.as_str(), 1)
        );
        assert_eq!(event.data["channel"], "web");
        assert_eq!(event.traceparent.as_deref(), Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
    }

    #[tokio::test]
    async fn places_an_order_without_a_channel_and_writes_it_as_null() {
        let deps = deps();
        let input = r#"{"customer_id":"0194a6c2-5a00-7000-8000-00000000000c","amount_cents":1250}"#;

        let response = handle(&deps, request("POST /orders", None, Some(input))).await;

        assert_eq!(response.status_code, 202, "{:?}", body(&response));
        let id = body(&response)["id"].as_str().unwrap().to_string();
        assert_eq!(deps.store.state(&id).unwrap().state.channel, None);
        let event = deps.store.outbox().remove(0);
        assert!(event.data.as_object().unwrap().contains_key("channel"), "{}", event.data);
        assert_eq!(event.data["channel"], Value::Null);
    }

    #[tokio::test]
    async fn answers_400_for_a_channel_that_is_not_a_short_lowercase_word() {
        let deps = deps();
        let input = r#"{"customer_id":"0194a6c2-5a00-7000-8000-00000000000c","amount_cents":1,"channel":"Web Shop"}"#;

        let response = handle(&deps, request("POST /orders", None, Some(input))).await;

        assert_eq!(response.status_code, 400);
        let problem = &body(&response)["fields"][0];
        assert_eq!(problem["field"], "channel", "{problem}");
        assert!(problem["problem"].as_str().unwrap().contains("lowercase"), "{problem}");
        assert!(deps.store.outbox().is_empty());
    }

    fn with_key(mut request: ApiGatewayV2httpRequest, key: &str) -> ApiGatewayV2httpRequest {
        request.headers.insert("idempotency-key", key.parse().unwrap());
        request
    }

    const ORDER: &str = r#"{"customer_id":"0194a6c2-5a00-7000-8000-00000000000c","amount_cents":1250,"channel":"web"}"#;

    #[tokio::test]
    async fn a_retried_place_with_the_same_idempotency_key_names_the_same_order_and_writes_once() {
        let deps = deps();
        let first = handle(&deps, with_key(request("POST /orders", None, Some(ORDER)), "checkout-42")).await;
        let retry = handle(&deps, with_key(request("POST /orders", None, Some(ORDER)), "checkout-42")).await;

        assert_eq!((first.status_code, retry.status_code), (202, 202), "{:?}", body(&retry));
        assert_eq!(body(&first)["id"], body(&retry)["id"]);
        assert_eq!(body(&retry)["status"], "pending");
        assert_eq!((deps.store.entities(), deps.store.outbox().len()), (1, 1), "one order, one OrderPlaced");

        let other = handle(&deps, with_key(request("POST /orders", None, Some(ORDER)), "checkout-43")).await;
        assert_ne!(body(&other)["id"], body(&first)["id"], "another key is another order");
    }

    #[tokio::test]
    async fn an_idempotency_key_reused_for_another_order_is_refused_with_422_and_writes_nothing() {
        let deps = deps();
        handle(&deps, with_key(request("POST /orders", None, Some(ORDER)), "checkout-42")).await;
        let other = ORDER.replace("1250", "999");

        let response = handle(&deps, with_key(request("POST /orders", None, Some(&other)), "checkout-42")).await;

        assert_eq!(response.status_code, 422);
        assert_eq!(body(&response)["error"], "this Idempotency-Key was already used for a different order");
        assert_eq!((deps.store.entities(), deps.store.outbox().len()), (1, 1));
    }

    #[tokio::test]
    async fn answers_400_for_an_idempotency_key_that_is_not_visible_ascii() {
        let deps = deps();
        let response = handle(&deps, with_key(request("POST /orders", None, Some(ORDER)), "two words")).await;

        assert_eq!(response.status_code, 400);
        assert_eq!(body(&response)["fields"][0]["field"], "Idempotency-Key");
        assert!(deps.store.outbox().is_empty());
    }

    #[tokio::test]
    async fn answers_an_order_with_its_channel() {
        let deps = deps();
        let id = place(&deps).await;

        let response = handle(&deps, request("GET /orders/{id}", Some(&id), None)).await;

        assert_eq!(response.status_code, 200);
        let order = body(&response);
        assert_eq!((order["status"].as_str(), order["channel"].as_str()), (Some("pending"), Some("web")));
    }

    #[tokio::test]
    async fn answers_400_naming_every_bad_field_and_writes_nothing() {
        let deps = deps();
        let response =
            handle(&deps, request("POST /orders", None, Some(r#"{"customer_id":"nope","amount_cents":-5}"#))).await;
        assert_eq!(response.status_code, 400);
        let fields: Vec<String> = body(&response)["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(fields, ["customer_id", "amount_cents"]);
        assert!(deps.store.outbox().is_empty());

        let response = handle(&deps, request("POST /orders", None, Some("{not json"))).await;
        assert_eq!(response.status_code, 400);
        assert_eq!(body(&response)["fields"][0]["field"], "body");
        assert!(deps.store.outbox().is_empty());
    }

    #[tokio::test]
    async fn answers_404_for_an_unknown_order_and_400_for_a_bad_id() {
        let deps = deps();
        let response =
            handle(&deps, request("GET /orders/{id}", Some("0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f"), None)).await;
        assert_eq!(response.status_code, 404);
        assert_eq!(body(&response)["error"], "order 0194a6c2-5f1e-7cc0-9d1e-0a8b2c3d4e5f not found");
        let response = handle(&deps, request("GET /orders/{id}", Some("x"), None)).await;
        assert_eq!((response.status_code, body(&response)["fields"][0]["field"].clone()), (400, "id".into()));
    }

    #[tokio::test]
    async fn refuses_to_cancel_a_pending_order_with_409() {
        let deps = deps();
        let id = place(&deps).await;
        let response = handle(&deps, request("POST /orders/{id}/cancel", Some(&id), None)).await;
        assert_eq!(response.status_code, 409, "{:?}", body(&response));
        assert_eq!(deps.store.outbox().len(), 1, "no OrderCancelled may be written");
    }

    #[tokio::test]
    async fn cancels_an_approved_order_and_answers_409_on_a_version_conflict() {
        let deps = deps();
        let id = place(&deps).await;
        let mut approved = deps.store.state(&id).unwrap();
        approved.state.status = orders::OrderStatus::Approved;
        deps.store.put_state(&id, approved.state, 2);

        deps.store.inject_conflicts(1);
        let response = handle(&deps, request("POST /orders/{id}/cancel", Some(&id), None)).await;
        assert_eq!(response.status_code, 409);
        assert_eq!(deps.store.outbox().len(), 1, "a conflict writes nothing");

        let response = handle(&deps, request("POST /orders/{id}/cancel", Some(&id), None)).await;
        assert_eq!(response.status_code, 202);
        let cancelled = deps.store.outbox().into_iter().find(|e| e.event_type == "OrderCancelled").unwrap();
        assert_eq!(cancelled.sequence, 3);
        assert_eq!(deps.store.state(&id).unwrap().state.status, orders::OrderStatus::Cancelled);
    }

    /// The contract registered for `OrderPlaced` requires a `currency` this
    /// build of the domain does not write: the event never reaches the outbox.
    #[tokio::test]
    async fn refuses_an_event_that_breaks_its_registered_schema_and_writes_nothing() {
        const REQUIRES_CURRENCY: &str = r#"{"type": "record", "name": "OrderPlaced", "fields": [
            {"name": "order_id", "type": "string"}, {"name": "customer_id", "type": "string"},
            {"name": "amount_cents", "type": "long"}, {"name": "channel", "type": ["null", "string"], "default": null},
            {"name": "currency", "type": "string"}]}"#;
        let contract = ProductContract::new("orders", "order-events", 1, &[("OrderPlaced", 3, REQUIRES_CURRENCY)]);
        let deps = Deps { store: MemoryStore::default(), emitter: Emitter::new(contract.unwrap()) };

        let response = handle(&deps, recorded_post()).await;

        assert_eq!(response.status_code, 500);
        let message = body(&response)["error"].as_str().unwrap().to_string();
        assert!(message.contains("OrderPlaced") && message.contains("currency"), "{message}");
        assert!(message.contains("urn:mesh:schema:orders:order-events:v1:OrderPlaced:3"), "{message}");
        assert!(deps.store.outbox().is_empty());
        assert_eq!(deps.store.entities(), 0);
    }

    mod any_request {
        use proptest::prelude::*;

        use super::*;

        /// A body that is almost a command: the right fields, any values.
        fn near_command() -> impl Strategy<Value = String> {
            let value = prop_oneof![
                Just(Value::Null),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
                any::<String>().prop_map(Value::from),
                Just(Value::from("0194a6c2-5a00-7000-8000-00000000000c")),
            ];
            (value.clone(), value.clone(), value).prop_map(|(customer, amount, channel)| {
                serde_json::json!({"customer_id": customer, "amount_cents": amount, "channel": channel}).to_string()
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any body, route or id: a 2xx or a 4xx whose message says what is
            /// wrong, and nothing written unless the command was accepted.
            #[test]
            fn any_request_is_answered_with_a_reason_and_writes_only_when_accepted(
                route in prop::sample::select(vec!["POST /orders", "GET /orders/{id}", "POST /orders/{id}/cancel", "DELETE /orders"]),
                id in prop::option::of(any::<String>()),
                body in prop::option::of(prop_oneof![any::<String>(), near_command()]),
            ) {
                let deps = deps();
                let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let response = runtime.block_on(handle(&deps, request(route, id.as_deref(), body.as_deref())));
                let status = response.status_code;
                prop_assert!(matches!(status, 202 | 400 | 404 | 409 | 413), "status {status}: {:?}", body_of(&response));
                if status >= 400 {
                    let message = body_of(&response)["error"].as_str().map(str::to_owned).unwrap_or_default();
                    prop_assert!(!message.is_empty(), "a {status} without a message");
                    prop_assert!(deps.store.outbox().is_empty());
                    prop_assert_eq!(deps.store.entities(), 0);
                } else {
                    prop_assert_eq!(deps.store.outbox().len(), 1);
                }
            }
        }

        fn body_of(response: &ApiGatewayV2httpResponse) -> Value {
            super::body(response)
        }
    }
}
