//! Routes: `POST /orders` (202 with the new id; the saga decides later),
//! `GET /orders/{id}`, `POST /orders/{id}/cancel`.

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use mesh::envelope::EventMeta;
use mesh::event::Emitter;
use mesh::store::{Commit, StateStore};
use mesh_aws::dynamo_store::{DynamoStore, Tables};
use mesh_aws::http::{ApiError, FieldProblem, json_body, json_response, path_param, route_key};
use mesh_aws::{ConfigError, Settings, config};
use orders::{Order, OrderError, OrderEvent, OrderId, PlaceOrder, RawPlaceOrder, ValidationErrors};
use serde_json::json;
use uuid::Uuid;

pub struct Deps<St> {
    pub store: St,
    pub emitter: Emitter,
}

impl Deps<DynamoStore<Order>> {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let client = aws_sdk_dynamodb::Client::new(&config::sdk_config().await);
        let tables = Tables {
            state: settings.state_table,
            outbox: settings.outbox_table,
            inbox: None,
        };
        Ok(Self {
            store: DynamoStore::new(
                client,
                tables,
                settings.outbox_retention,
                settings.inbox_retention,
            ),
            emitter: Emitter::new(&settings.domain, &settings.product),
        })
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
    let raw: RawPlaceOrder = serde_json::from_value(json_body(request)?)
        .map_err(|e| ApiError::bad_request("body", e.to_string()))?;
    let command = PlaceOrder::parse(raw, OrderId::generate()).map_err(invalid)?;
    let order_id = command.order_id.to_string();
    let events = Order::place(command);
    let order = Order::from_events(&events)
        .ok_or_else(|| ApiError::internal("placing produced no order"))?;
    commit(deps, request, &order_id, 0, order, &events).await?;
    Ok(json_response(
        202,
        &json!({ "id": order_id, "status": "pending" }),
    ))
}

async fn get<St: StateStore<Order>>(
    deps: &Deps<St>,
    request: &ApiGatewayV2httpRequest,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let order_id = order_id(request)?;
    let order = deps
        .store
        .load(&order_id)
        .await?
        .ok_or_else(|| not_found(&order_id))?;
    Ok(json_response(200, &json!(order.state)))
}

async fn cancel<St: StateStore<Order>>(
    deps: &Deps<St>,
    request: &ApiGatewayV2httpRequest,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let order_id = order_id(request)?;
    let current = deps
        .store
        .load(&order_id)
        .await?
        .ok_or_else(|| not_found(&order_id))?;
    let events = current
        .state
        .cancel()
        .map_err(|e: OrderError| ApiError::conflict(e.to_string()))?;
    let order = events.iter().fold(current.state, Order::apply);
    commit(deps, request, &order_id, current.version, order, &events).await?;
    Ok(json_response(
        202,
        &json!({ "id": order_id, "status": "cancelled" }),
    ))
}

async fn commit<St: StateStore<Order>>(
    deps: &Deps<St>,
    request: &ApiGatewayV2httpRequest,
    order_id: &str,
    version: u64,
    order: Order,
    events: &[OrderEvent],
) -> Result<(), ApiError> {
    let envelopes = deps
        .emitter
        .envelopes(order_id, version + 1, events, &request_meta(request))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(deps
        .store
        .commit(Commit::decided(order_id, version, order, envelopes, None))
        .await?)
}

/// Each request starts a conversation; its W3C trace context travels along.
fn request_meta(request: &ApiGatewayV2httpRequest) -> EventMeta {
    let mut meta = EventMeta::root(Uuid::now_v7());
    meta.traceparent = request
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    meta
}

fn order_id(request: &ApiGatewayV2httpRequest) -> Result<String, ApiError> {
    let raw = path_param(request, "id")?;
    OrderId::parse(raw)
        .map(|id| id.to_string())
        .map_err(|e| ApiError::bad_request("id", e.to_string()))
}

fn not_found(order_id: &str) -> ApiError {
    ApiError::not_found(format!("order {order_id} not found"))
}

fn invalid(errors: ValidationErrors) -> ApiError {
    ApiError::invalid(
        errors
            .iter()
            .map(|e| FieldProblem {
                field: e.field.into(),
                problem: e.problem.clone(),
            })
            .collect(),
    )
}
