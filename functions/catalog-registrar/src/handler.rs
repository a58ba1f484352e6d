//! One custom resource request in, one answer for CloudFormation out. The
//! product's catalog spec travels as the JSON string property `Spec`
//! (CloudFormation turns numbers in properties into strings; a string is
//! passed through as written).

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus,
};
use mesh::catalog::CatalogSpec;
use mesh_aws::catalog::Registrar;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct Properties {
    #[serde(rename = "Spec")]
    pub spec: String,
}

pub type Request = CloudFormationCustomResourceRequest<serde_json::Value, serde_json::Value>;

/// Where to send the answer, and the answer.
#[derive(Debug)]
pub struct Answer {
    pub url: String,
    pub response: CloudFormationCustomResourceResponse,
}

/// CloudFormation shows at most this much of a failure's reason.
const REASON_LIMIT: usize = 3_000;

/// The catalog operations the handler needs, so it can be tested without Glue.
pub trait Catalog: Sync {
    fn sync(&self, spec: &CatalogSpec) -> impl Future<Output = Result<String, String>> + Send;
    fn remove(&self, spec: &CatalogSpec) -> impl Future<Output = Result<(), String>> + Send;
}

impl Catalog for Registrar {
    async fn sync(&self, spec: &CatalogSpec) -> Result<String, String> {
        let report = Registrar::sync(self, spec).await.map_err(|e| e.to_string())?;
        Ok(format!(
            "created {}, updated {}, unchanged {}",
            report.created.len(),
            report.updated.len(),
            report.unchanged.len()
        ))
    }

    async fn remove(&self, spec: &CatalogSpec) -> Result<(), String> {
        Registrar::remove(self, spec).await.map_err(|e| e.to_string())
    }
}

/// The answer to send, or why there is nobody to answer (a request type
/// newer than this function knows, which has no ResponseURL we can read).
pub async fn handle(catalog: &impl Catalog, request: Request) -> Result<Answer, String> {
    let (url, stack_id, request_id, logical_id, physical_id, properties, deleting) = match request {
        CloudFormationCustomResourceRequest::Create(r) => {
            (r.response_url, r.stack_id, r.request_id, r.logical_resource_id, None, r.resource_properties, false)
        }
        CloudFormationCustomResourceRequest::Update(r) => (
            r.response_url,
            r.stack_id,
            r.request_id,
            r.logical_resource_id,
            Some(r.physical_resource_id),
            r.resource_properties,
            false,
        ),
        CloudFormationCustomResourceRequest::Delete(r) => (
            r.response_url,
            r.stack_id,
            r.request_id,
            r.logical_resource_id,
            Some(r.physical_resource_id),
            r.resource_properties,
            true,
        ),
        _ => return Err("a custom resource request of a type this registrar does not know".into()),
    };
    let spec = serde_json::from_value::<Properties>(properties)
        .map_err(|e| format!("the resource needs a `Spec` string property: {e}"))
        .and_then(|p| {
            serde_json::from_str::<CatalogSpec>(&p.spec).map_err(|e| format!("`Spec` is not a catalog spec: {e}"))
        });
    let outcome = match &spec {
        Err(reason) if deleting => {
            // A resource that never had a valid spec created nothing to delete.
            tracing::warn!(reason, "deleting a resource without a valid spec");
            Ok(physical_id.clone().unwrap_or_default())
        }
        Err(reason) => Err(reason.clone()),
        Ok(spec) if deleting => catalog.remove(spec).await.map(|()| physical(spec)),
        Ok(spec) => catalog.sync(spec).await.map(|report| {
            tracing::info!(product = %spec.qualified_product(), report, "catalog in sync");
            physical(spec)
        }),
    };
    let mut response = CloudFormationCustomResourceResponse::default();
    response.stack_id = stack_id;
    response.request_id = request_id;
    response.logical_resource_id = logical_id;
    match outcome {
        Ok(id) => {
            response.status = CloudFormationCustomResourceResponseStatus::Success;
            response.physical_resource_id = id;
            if let Ok(spec) = &spec {
                response.data.insert("Database".into(), spec.database());
                response.data.insert("Table".into(), spec.table());
                response.data.insert("Registry".into(), spec.registry());
            }
        }
        Err(reason) => {
            tracing::error!(reason, "catalog registration failed");
            response.status = CloudFormationCustomResourceResponseStatus::Failed;
            response.reason = Some(reason.chars().take(REASON_LIMIT).collect());
            // A failed Create keeps no resource; an Update keeps the old one.
            response.physical_resource_id = physical_id.unwrap_or_else(|| "not-created".into());
        }
    }
    Ok(Answer { url, response })
}

/// `<database>.<table>`: a new major version is a new table, so CloudFormation
/// replaces the resource (and deletes the old table) only when that changes.
fn physical(spec: &CatalogSpec) -> String {
    format!("{}.{}", spec.database(), spec.table())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct FakeCatalog {
        refuse: Option<String>,
        calls: Mutex<Vec<String>>,
    }

    impl Catalog for FakeCatalog {
        async fn sync(&self, spec: &CatalogSpec) -> Result<String, String> {
            self.calls.lock().unwrap().push(format!("sync {}", spec.qualified_product()));
            self.refuse.clone().map_or(Ok("created 7".into()), Err)
        }

        async fn remove(&self, spec: &CatalogSpec) -> Result<(), String> {
            self.calls.lock().unwrap().push(format!("remove {}", spec.qualified_product()));
            Ok(())
        }
    }

    fn recorded(request_type: &str) -> Request {
        let text =
            include_str!("../fixtures/create-data-product.json").replace("\"Create\"", &format!("\"{request_type}\""));
        serde_json::from_str(&text).unwrap()
    }

    #[tokio::test]
    async fn registers_the_product_and_answers_success() {
        let catalog = FakeCatalog::default();

        let answer = handle(&catalog, recorded("Create")).await.unwrap();

        assert_eq!(answer.response.status, CloudFormationCustomResourceResponseStatus::Success);
        assert_eq!(answer.response.physical_resource_id, "mesh_orders.order_events_v1");
        assert_eq!(answer.response.data["Registry"], "mesh-orders");
        assert!(answer.url.starts_with("http://localhost:4566/_ministack/cfn-response/"));
        assert_eq!(*catalog.calls.lock().unwrap(), ["sync orders/order-events"]);
    }

    #[tokio::test]
    async fn answers_failed_with_the_catalogs_reason() {
        let reason =
            "orders/order-events OrderPlaced breaks FULL_TRANSITIVE: v3 ... OrderPlaced.amount_cents: type changed";
        let catalog = FakeCatalog { refuse: Some(reason.into()), ..FakeCatalog::default() };

        let answer = handle(&catalog, recorded("Create")).await.unwrap();

        assert_eq!(answer.response.status, CloudFormationCustomResourceResponseStatus::Failed);
        assert_eq!(answer.response.reason.as_deref(), Some(reason));
    }

    #[tokio::test]
    async fn a_spec_that_does_not_parse_fails_and_touches_nothing() {
        let catalog = FakeCatalog::default();
        let mut request = recorded("Create");
        if let CloudFormationCustomResourceRequest::Create(create) = &mut request {
            create.resource_properties = serde_json::json!({"ServiceToken": "arn:x", "Spec": "{\"mesh\": 1}"});
        }

        let answer = handle(&catalog, request).await.unwrap();

        assert_eq!(answer.response.status, CloudFormationCustomResourceResponseStatus::Failed);
        assert!(answer.response.reason.unwrap().starts_with("`Spec` is not a catalog spec"));
        assert!(catalog.calls.lock().unwrap().is_empty());
    }
}
