//! The embedded emulator enforces IAM (`AUTH=true`): what the suite shows
//! by passing, that every function's role holds what its flows need, would
//! show nothing if a missing grant were not refused. So: the orders API,
//! run with the customers API's role (its own domain's tables and key only),
//! is refused by KMS at init (it may not make data keys sealing the orders
//! product's PII), answers 502, and writes nothing; given back its own role,
//! the same request is accepted.
#![allow(clippy::unwrap_used)]

use mesh_local::DeployOptions;
use mesh_tests::TestMesh;
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_running_with_another_domains_role_is_refused_and_writes_nothing() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    if !mesh.emulator.is_embedded() {
        eprintln!("AWS_ENDPOINT_URL is set: IAM enforcement is the endpoint's own, nothing to check here");
        return mesh.stop().await.unwrap();
    }
    let lambda = aws_sdk_lambda::Client::new(&mesh.emulator.sdk_config());
    let orders_api = mesh.mesh.domain("orders").unwrap().api_function_name().unwrap().to_owned();
    let customers_api = mesh.mesh.domain("customers").unwrap().api_function_name().unwrap();
    let configuration_of = |name: String| {
        let lambda = lambda.clone();
        async move { lambda.get_function_configuration().function_name(name).send().await.unwrap() }
    };
    let own = configuration_of(orders_api.clone()).await;
    let (own_role, environment) = (own.role().unwrap().to_owned(), own.environment().unwrap().variables().cloned());
    let foreign_role = configuration_of(customers_api.to_owned()).await.role().unwrap().to_owned();
    // The environment is sent again as it was: MiniStack starts new
    // environments (with the new role's session) when it changes, not when
    // only the role does, where AWS starts new ones for any change.
    let with_role = |role: String| {
        let (lambda, name) = (lambda.clone(), orders_api.clone());
        let environment = aws_sdk_lambda::types::Environment::builder().set_variables(environment.clone()).build();
        async move {
            lambda
                .update_function_configuration()
                .function_name(name)
                .role(role)
                .environment(environment)
                .send()
                .await
                .unwrap()
        }
    };

    with_role(foreign_role).await;
    let client = mesh.client();
    let order = json!({"customer_id": Uuid::now_v7().to_string(), "amount_cents": 100});
    let (status, body) = client.call("POST", &client.orders_url("/orders"), Some(order.clone())).await.unwrap();
    // Refused before any write: the function does not start without the keys
    // protecting its product's PII, and the customers API's role (and the
    // orders key's policy) gives no data key under the orders key.
    assert_eq!(status, 502, "{body}");
    let said = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        said.contains("the keys protecting orders/order-events's PII could not be had at init")
            && said.contains("refused GenerateDataKey: AccessDeniedException"),
        "{body}"
    );
    let dynamodb = aws_sdk_dynamodb::Client::new(&mesh.emulator.sdk_config());
    let orders = mesh.mesh.domain("orders").unwrap();
    for table in [orders.state_table().unwrap(), orders.outbox_table().unwrap()] {
        let scan = dynamodb.scan().table_name(table).send().await.unwrap();
        assert_eq!(scan.count(), 0, "{table} holds {:?}", scan.items());
    }

    with_role(own_role).await;
    let (status, body) = client.call("POST", &client.orders_url("/orders"), Some(order)).await.unwrap();
    assert_eq!(status, 202, "with its own role the same request is accepted: {body}");
    mesh.stop().await.unwrap();
}
