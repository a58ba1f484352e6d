//! The data product catalog on the emulator: after a deploy, Glue holds
//! exactly what the descriptors and schema files say; registering again
//! changes nothing; an incompatible schema version fails the deploy with the
//! registrar's reason and writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use aws_sdk_glue::types::{SchemaId, SchemaVersionNumber};
use mesh::catalog::CatalogSpec;
use mesh::contract::merged_struct;
use mesh_aws::catalog::Registrar;
use mesh_cli::commands::catalog::discover::{list_products, show_product};
use mesh_infra::descriptor::{Mesh, load_mesh};
use mesh_infra::templates::{PortArns, catalog_spec};
use mesh_local::{DeployOptions, deploy_stack, workspace_root};
use mesh_tests::TestMesh;
use serde_json::Value;

fn descriptors() -> Mesh {
    load_mesh(&workspace_root().unwrap()).unwrap()
}

fn spec_of(mesh: &TestMesh, descriptors: &Mesh, domain: &str) -> CatalogSpec {
    let descriptor = descriptors.domain(domain).unwrap();
    let ports = mesh.mesh.ports(domain).unwrap();
    let arns =
        PortArns { topic_arn: ports.topic_arn().unwrap().into(), stream_arn: ports.stream_arn().unwrap().into() };
    catalog_spec(mesh.mesh.prefix(), descriptors, descriptor, &descriptor.products[0], arns)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn the_catalog_matches_the_descriptors_and_registering_again_changes_nothing() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let glue = mesh.emulator.glue_client();
    let descriptors = descriptors();
    let prefix = mesh.mesh.prefix().to_string();

    for descriptor in descriptors.domains.iter().map(|d| &d.descriptor).filter(|d| !d.products.is_empty()) {
        let domain = descriptor.domain.as_str();
        let product = &descriptor.products[0];
        let ports = mesh.mesh.ports(domain).unwrap();

        // The domain's database: its description and owner.
        let database = format!("{prefix}_{}", domain).replace('-', "_");
        let db = glue.get_database().name(&database).send().await.unwrap();
        let db = db.database().unwrap();
        assert_eq!(db.description(), Some(descriptor.description.as_str()));
        let db_parameters = db.parameters().unwrap();
        assert_eq!(db_parameters["owner"], descriptor.owner.team);
        assert_eq!(db_parameters["contact"], descriptor.owner.contact);

        // The product's table: envelope columns, then `data` merging the latest schemas.
        let table_name = format!("{}_v{}", product.name, product.version).replace('-', "_");
        let table = glue.get_table().database_name(&database).name(&table_name).send().await.unwrap();
        let table = table.table().unwrap().clone();
        let columns: Vec<(String, String)> = table
            .storage_descriptor()
            .unwrap()
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.r#type().unwrap().to_string()))
            .collect();
        let latest: Vec<_> =
            product.events.iter().map(|e| &descriptors.versions(&e.schemas).last().unwrap().schema).collect();
        let mut expected: Vec<(String, String)> = [
            ("id", "string"),
            ("source", "string"),
            ("type", "string"),
            ("subject", "string"),
            ("time", "timestamp"),
            ("sequence", "bigint"),
            ("correlationid", "string"),
            ("causationid", "string"),
            ("dataschema", "string"),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
        expected.push(("data".into(), merged_struct(&latest).unwrap()));
        assert_eq!(columns, expected, "{table_name}");
        // The data column says which fields hold only their protected form.
        let data = table.storage_descriptor().unwrap().columns().iter().find(|c| c.name() == "data").unwrap();
        let protected = format!("protected, as mesh.pii.Protected {{token, sealed}}: {}", product.pii.join(", "));
        assert!(data.comment().unwrap().ends_with(&protected), "{table_name}: {:?}", data.comment());

        let parameters: BTreeMap<&str, &str> =
            table.parameters().unwrap().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let pii: Vec<String> = product.pii.iter().map(|f| format!("data.{f}")).collect();
        let types: Vec<&str> = product.events.iter().map(|e| e.event_type.as_str()).collect();
        for (key, value) in [
            ("owner", descriptor.owner.team.clone()),
            ("contact", descriptor.owner.contact.clone()),
            ("classification", product.classification.to_string()),
            ("pii_columns", pii.join(",")),
            ("compatibility", product.compatibility.to_string()),
            ("product_version", product.version.to_string()),
            ("topic_arn", ports.topic_arn().unwrap().to_string()),
            ("stream_arn", ports.stream_arn().unwrap().to_string()),
            ("retention_hours", product.ports.kinesis.retention_hours.to_string()),
            ("freshness_seconds", product.service_levels.freshness_seconds.to_string()),
            ("subscribers", product.access.subscribers.join(",")),
            ("pii_readers", product.access.pii_readers.join(",")),
            ("event_types", types.join(",")),
            ("schema_registry", format!("{prefix}-{}", domain)),
        ] {
            assert_eq!(parameters.get(key).copied(), Some(value.as_str()), "{table_name} parameter {key}");
        }
        let reference = table.storage_descriptor().unwrap().schema_reference().unwrap();
        let first = &product.events[0];
        assert_eq!(
            reference.schema_id().unwrap().schema_name(),
            Some(format!("{}.v{}.{}", product.name, product.version, first.event_type).as_str())
        );
        assert_eq!(reference.schema_version_number(), Some(first.schemas.len() as i64));

        // The registry: a schema per event type, the product's mode, every version as written.
        for event in &product.events {
            let id = || {
                SchemaId::builder()
                    .registry_name(format!("{prefix}-{}", domain))
                    .schema_name(format!("{}.v{}.{}", product.name, product.version, event.event_type))
                    .build()
            };
            let schema = glue.get_schema().schema_id(id()).send().await.unwrap();
            assert_eq!(schema.compatibility().map(|c| c.as_str()), Some(product.compatibility.glue_name()));
            assert_eq!(schema.latest_schema_version(), Some(event.schemas.len() as i64), "{}", event.event_type);
            for (number, file) in (1..).zip(&event.schemas) {
                let version = glue
                    .get_schema_version()
                    .schema_id(id())
                    .schema_version_number(SchemaVersionNumber::builder().version_number(number).build())
                    .send()
                    .await
                    .unwrap();
                let on_disk = std::fs::read_to_string(workspace_root().unwrap().join("schemas").join(file)).unwrap();
                assert_eq!(json(version.schema_definition().unwrap()), json(&on_disk), "{file}");
            }
        }

        // Registering again (what a stack update or `mesh catalog sync` does) is a no-op.
        let before = (table.update_time().cloned(), table.version_id().map(str::to_string));
        let report = Registrar::new(glue.clone()).sync(&spec_of(&mesh, &descriptors, domain)).await.unwrap();
        assert!(!report.changed(), "{report:?}");
        assert_eq!(report.unchanged.len(), 3 + 2 * product.events.len() + extra_versions(product));
        let again = glue.get_table().database_name(&database).name(&table_name).send().await.unwrap();
        let again = again.table().unwrap();
        assert_eq!((again.update_time().cloned(), again.version_id().map(str::to_string)), before);
    }

    // What `mesh catalog list` and `show` read: the catalog, not the files.
    let listed = list_products(&glue, &prefix).await.unwrap();
    let names: Vec<(String, String)> = listed.iter().map(|p| (p.database.clone(), p.owner.clone())).collect();
    assert_eq!(
        names,
        [
            (format!("{prefix}_customers").replace('-', "_"), "customers-team".to_string()),
            (format!("{prefix}_orders").replace('-', "_"), "orders-team".to_string())
        ]
    );
    let (entry, schemas) =
        show_product(&glue, &prefix, &"orders/order-events".parse().unwrap(), None).await.unwrap().unwrap();
    assert_eq!(entry.parameter("subscribers"), "customers,analytics");
    assert_eq!(
        (entry.parameter("pii_columns"), entry.parameter("pii_readers")),
        ("data.customer_id", "customers,analytics")
    );
    let versions: Vec<(&str, usize)> = schemas.iter().map(|s| (s.name.as_str(), s.versions.len())).collect();
    assert_eq!(
        versions,
        [
            ("order-events.v2.OrderPlaced", 2),
            ("order-events.v2.OrderApproved", 1),
            ("order-events.v2.OrderRejected", 1),
            ("order-events.v2.OrderCancelled", 1),
            ("order-events.v2.OrderCreditDeclined", 1)
        ]
    );
    assert!(show_product(&glue, &prefix, &"orders/shipments".parse().unwrap(), None).await.unwrap().is_none());
    mesh.stop().await.unwrap();
}

/// Versions beyond the first of each event type (each is one more unchanged item).
fn extra_versions(product: &mesh_infra::descriptor::Product) -> usize {
    product.events.iter().map(|e| e.schemas.len() - 1).sum()
}

#[tokio::test]
async fn an_incompatible_version_fails_the_deploy_with_the_reason_and_writes_nothing() {
    let mesh = TestMesh::start(DeployOptions::default()).await.unwrap();
    let glue = mesh.emulator.glue_client();
    let descriptors = descriptors();
    let mut spec = spec_of(&mesh, &descriptors, "orders");
    // v3 of OrderPlaced turns `amount_cents` from a long into a string.
    let placed = spec.product.events.iter_mut().find(|e| e.event_type == "OrderPlaced").unwrap();
    let breaking = placed.versions.last().unwrap().replace(r#""type": "long""#, r#""type": "string""#);
    placed.versions.push(breaking);

    let template = serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"RegistrarArn": {"Type": "String"}},
        "Resources": {"OrderEventsV2": {
            "Type": "Custom::DataProduct",
            "Properties": {"ServiceToken": {"Ref": "RegistrarArn"}, "Spec": serde_json::to_string(&spec).unwrap()}
        }}
    });
    let path = std::env::temp_dir().join(format!("{}-breaking-catalog.json", mesh.mesh.prefix()));
    std::fs::write(&path, serde_json::to_string_pretty(&template).unwrap()).unwrap();
    let parameters = BTreeMap::from([(
        "RegistrarArn".to_string(),
        mesh.mesh.platform().output("RegistrarArn").unwrap().to_string(),
    )]);

    let error = deploy_stack(
        &mesh.emulator,
        &format!("{}-breaking-catalog", mesh.mesh.prefix()),
        Path::new(&path),
        &parameters,
        Duration::from_secs(120),
    )
    .await
    .unwrap_err()
    .to_string();
    std::fs::remove_file(&path).unwrap();

    assert!(error.contains("orders/order-events OrderPlaced breaks FULL_TRANSITIVE"), "{error}");
    assert!(error.contains("OrderPlaced.amount_cents: type changed from long to string"), "{error}");
    let registered = glue
        .get_schema()
        .schema_id(
            SchemaId::builder()
                .registry_name(format!("{}-orders", mesh.mesh.prefix()))
                .schema_name("order-events.v2.OrderPlaced")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(registered.latest_schema_version(), Some(2), "nothing was registered");
    mesh.stop().await.unwrap();
}

#[test]
fn the_spec_of_a_product_names_its_catalog_entries() {
    let descriptors = descriptors();
    let orders = descriptors.domain("orders").unwrap();
    let arns = PortArns { topic_arn: "arn:t".into(), stream_arn: "arn:s".into() };

    let spec = catalog_spec("mesh-7", &descriptors, orders, &orders.products[0], arns);

    assert_eq!(
        (spec.database(), spec.table(), spec.registry()),
        ("mesh_7_orders".into(), "order_events_v2".into(), "mesh-7-orders".into())
    );
    let versions: HashMap<&str, usize> =
        spec.product.events.iter().map(|e| (e.event_type.as_str(), e.versions.len())).collect();
    assert_eq!(versions["OrderPlaced"], 2);
}

#[tokio::test]
async fn an_ungranted_subscription_deploys_nothing() {
    let root = std::env::temp_dir().join(format!("mesh-governance-{}", uuid::Uuid::now_v7()));
    let source = workspace_root().unwrap();
    for domain in ["orders", "customers", "analytics"] {
        std::fs::create_dir_all(root.join("domains").join(domain)).unwrap();
        let text = std::fs::read_to_string(source.join(format!("domains/{domain}/domain.yaml"))).unwrap();
        // The orders team no longer grants analytics its product.
        let text = text
            .replace("subscribers: [customers, analytics]", "subscribers: [customers]")
            .replace("pii_readers: [customers, analytics]", "pii_readers: [customers]");
        std::fs::write(root.join(format!("domains/{domain}/domain.yaml")), text).unwrap();
    }
    std::os::unix::fs::symlink(source.join("schemas"), root.join("schemas")).unwrap();
    std::os::unix::fs::symlink(source.join("functions"), root.join("functions")).unwrap();
    let emulator = mesh_local::Emulator::start().await.unwrap();
    let prefix = format!("g{}", &uuid::Uuid::now_v7().simple().to_string()[24..]);
    let options = DeployOptions {
        prefix: Some(prefix.clone()),
        descriptors_root: Some(root.clone()),
        ..DeployOptions::default()
    };

    let error = mesh_local::deploy_mesh(&emulator, &options).await.unwrap_err().to_string();
    std::fs::remove_dir_all(&root).unwrap();

    assert!(error.starts_with("the mesh's descriptors are invalid, nothing was deployed:"), "{error}");
    assert!(
        error.contains(
            "analytics may not subscribe to orders/order-events v2: its owner (orders-team) grants only customers"
        ),
        "{error}"
    );
    let cfn = aws_sdk_cloudformation::Client::new(&emulator.sdk_config());
    let stacks = cfn.list_stacks().send().await.unwrap();
    assert!(stacks.stack_summaries().iter().all(|s| !s.stack_name().unwrap_or_default().starts_with(&prefix)));
}
