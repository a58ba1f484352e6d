//! Routes: `POST /customers` (201 with the new id), `GET /customers/{id}`
//! (limit, reserved and available credit).

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use customers::contract::CUSTOMER_CREDIT_WRITES;
use customers::{Customer, CustomerId, RawRegisterCustomer, RegisterCustomer, ValidationErrors};
use mesh::envelope::EventMeta;
use mesh::event::Emitter;
use mesh::schemas::ProductContract;
use mesh::store::{Commit, StateStore};
use mesh_aws::dynamo_store::DynamoStore;
use mesh_aws::http::{ApiError, FieldProblem, json_body, json_response, path_param, route_key};
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
    let command = RegisterCustomer::parse(raw, CustomerId::generate()).map_err(invalid)?;
    let customer_id = command.customer_id.to_string();
    let events = Customer::register(command);
    let customer =
        Customer::from_events(&events).ok_or_else(|| ApiError::internal("registering produced no customer"))?;
    let meta = EventMeta::root(Uuid::now_v7());
    let envelopes =
        deps.emitter.envelopes(&customer_id, 1, &events, &meta).map_err(|e| ApiError::internal(e.to_string()))?;
    deps.store.commit(Commit::decided(&customer_id, 0, customer, envelopes, None)).await?;
    Ok(json_response(201, &json!({ "id": customer_id })))
}

async fn get<St: StateStore<Customer>>(
    deps: &Deps<St>,
    request: &ApiGatewayV2httpRequest,
) -> Result<ApiGatewayV2httpResponse, ApiError> {
    let customer_id = CustomerId::parse(path_param(request, "id")?)
        .map_err(|e| ApiError::bad_request("id", e.to_string()))?
        .to_string();
    let customer = deps
        .store
        .load(&customer_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("customer {customer_id} not found")))?
        .state;
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

fn invalid(errors: ValidationErrors) -> ApiError {
    ApiError::invalid(
        errors.iter().map(|e| FieldProblem { field: e.field.into(), problem: e.problem.clone() }).collect(),
    )
}
