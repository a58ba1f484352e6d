//! The `mesh` command as a person runs it: exit status and what it prints.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mesh(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesh")).arg("--root").arg(root).args(args).output().unwrap()
}

/// A copy of the descriptors, schemas and function directories to break.
fn copy() -> PathBuf {
    let target = std::env::temp_dir().join(format!("mesh-cli-{}", uuid::Uuid::now_v7()));
    let source = repository();
    // Only the domains: a crate the domains share (domains/kit) has no descriptor.
    for entry in std::fs::read_dir(source.join("domains")).unwrap().flatten() {
        let descriptor = entry.path().join("domain.yaml");
        if !descriptor.is_file() {
            continue;
        }
        let name = entry.file_name();
        std::fs::create_dir_all(target.join("domains").join(&name)).unwrap();
        std::fs::copy(descriptor, target.join("domains").join(&name).join("domain.yaml")).unwrap();
    }
    for entry in std::fs::read_dir(source.join("functions")).unwrap().flatten() {
        std::fs::create_dir_all(target.join("functions").join(entry.file_name())).unwrap();
    }
    copy_dir(&source.join("schemas"), &target.join("schemas"));
    target
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn validate_accepts_the_repository() {
    let output = mesh(&repository(), &["validate"]);

    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "ok: 3 domains, 2 products, 11 schema versions, every subscription granted\n"
    );
}

#[test]
fn validate_refuses_an_ungranted_subscription_naming_both_sides() {
    let root = copy();
    let path = root.join("domains/customers/domain.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace("subscribers: [orders]", "subscribers: []");
    std::fs::write(&path, text).unwrap();

    let output = mesh(&root, &["validate"]);
    std::fs::remove_dir_all(&root).unwrap();

    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains(
            "domains/orders/domain.yaml:47:14: consumes[0].product: orders may not subscribe to customers/customer-credit v2: \
             its owner (customers-team) grants only nobody"
        ),
        "{said}"
    );
    assert!(said.ends_with("1 problem(s)\n"), "{said}");
}

#[test]
fn compat_prints_every_event_type_and_fails_on_a_break() {
    let output = mesh(&repository(), &["compat"]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        table.contains(
            "orders/order-events v2         OrderPlaced            2         FULL_TRANSITIVE      customer_id              ok"
        ),
        "{table}"
    );

    let root = copy();
    let events = root.join("schemas/customers/customer-credit/v2/CreditReserved");
    let v1 = std::fs::read_to_string(events.join("1.avsc")).unwrap();
    let v2 = v1.replace(r#""name": "amount_cents""#, r#""name": "amount""#);
    std::fs::write(events.join("2.avsc"), v2).unwrap();
    let path = root.join("domains/customers/domain.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "schemas: [customers/customer-credit/v2/CreditReserved/1.avsc]",
        "schemas: [customers/customer-credit/v2/CreditReserved/1.avsc, customers/customer-credit/v2/CreditReserved/2.avsc]",
    );
    std::fs::write(&path, text).unwrap();

    let output = mesh(&root, &["compat"]);
    std::fs::remove_dir_all(&root).unwrap();

    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("CreditReserved v2 is not FORWARD_TRANSITIVE compatible with v1: a reader at v1 cannot read data written with v2: CreditReserved.amount_cents: the reader's field has no default"),
        "{said}"
    );
}

#[test]
fn export_odcs_writes_an_open_data_contract() {
    let output = mesh(&repository(), &["export", "odcs", "customers/customer-credit"]);

    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let yaml = String::from_utf8_lossy(&output.stdout);
    for line in ["apiVersion: v3.0.2", "kind: DataContract", "domain: customers", "dataProduct: customer-credit"] {
        assert!(yaml.contains(line), "{line} in {yaml}");
    }
}

/// The README's worked example: a new domain with one product and one
/// subscription is a descriptor, a schema and a handler crate (here, its
/// directory); the platform generates its three stacks, which satisfy every
/// Guard rule and the cross-stack check, the producer's topic now lets it subscribe, and its handler
/// is among the functions built and deployed. The copy holds no `platform/`:
/// nothing there changes.
#[test]
fn adding_a_domain_takes_a_descriptor_a_schema_and_a_handler() {
    let root = copy();
    let example = repository().join("docs/examples/shipping");
    copy_dir(&example.join("domains"), &root.join("domains"));
    copy_dir(&example.join("schemas"), &root.join("schemas"));
    std::fs::create_dir_all(root.join("functions/shipping-dispatch")).unwrap();
    copy_dir(&repository().join("infra/rules"), &root.join("infra/rules"));

    // Ungranted first: the orders team has not said yes yet.
    let refused = mesh(&root, &["validate"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(
            "consumes[0].product: shipping may not subscribe to orders/order-events v2: its owner (orders-team) \
             grants only customers, analytics; ask them to add `shipping` to access.subscribers"
        ),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let orders = root.join("domains/orders/domain.yaml");
    let text = std::fs::read_to_string(&orders).unwrap();
    let granted = text.replace("subscribers: [customers, analytics]", "subscribers: [customers, analytics, shipping]");
    assert_ne!(granted, text);
    std::fs::write(&orders, granted).unwrap();

    let validated = mesh(&root, &["validate"]);
    assert!(validated.status.success(), "{}", String::from_utf8_lossy(&validated.stderr));
    let generated = mesh(&root, &["infra", "generate"]);
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    for stack in ["shipping-ports.yaml", "shipping-catalog.yaml", "shipping.yaml"] {
        assert!(root.join("infra").join(stack).is_file(), "{stack} generated");
    }
    let shipping = std::fs::read_to_string(root.join("infra/shipping.yaml")).unwrap();
    for expected in [
        "QueueName: !Sub ${Prefix}-shipping-order-events\n",
        "FunctionName: !Sub ${Prefix}-shipping-dispatch\n",
        "S3Key: !Sub ${ArtifactPrefix}shipping-dispatch.zip\n",
        "      FilterPolicy:\n        type:\n        - OrderApproved\n",
        "FunctionName: !Sub ${Prefix}-shipping-outbox-relay\n",
        "Threshold: 120000\n",
    ] {
        assert!(shipping.contains(expected), "shipping.yaml lacks {expected:?}");
    }
    let orders_ports = std::fs::read_to_string(root.join("infra/orders-ports.yaml")).unwrap();
    assert!(orders_ports.contains("${Prefix}-shipping-order-events"), "the orders topic lets shipping subscribe");
    // A subscriber, not a PII reader: its handler reads customer_id as its
    // token, and neither its role nor the orders key lets it unwrap a value.
    assert!(!shipping.contains("PII_READS") && !shipping.contains("OrderEventsKeyArn"), "shipping reads no PII");
    assert!(!orders_ports.contains("${Prefix}-shipping-*"), "the orders key names no shipping role");

    let checked = mesh(&root, &["infra", "check"]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stdout));
    assert!(String::from_utf8_lossy(&checked.stdout).contains("holds on 12 templates"));
    // The new subscription's queue, key and role meet across its stacks and the producer's.
    assert!(
        String::from_utf8_lossy(&checked.stdout).contains("ok: cross-stack grants hold for 4 subscriptions"),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let plan = String::from_utf8_lossy(&mesh(&root, &["infra", "plan"]).stdout).into_owned();
    assert!(plan.contains("shipping infra/shipping.yaml"), "{plan}");
    assert!(plan.contains("OrderEventsTopicArn=output:orders-ports:TopicArn"), "{plan}");
    // What the harness and `make functions` build comes from the descriptors too.
    let functions = String::from_utf8_lossy(&mesh(&root, &["infra", "functions"]).stdout).into_owned();
    assert!(functions.lines().any(|crate_name| crate_name == "shipping-dispatch"), "{functions}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// The README quotes the worked example's files whole: they cannot drift apart.
#[test]
fn the_readme_quotes_the_worked_example() {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let example = repository().join("docs/examples/shipping");
    for file in ["domains/shipping/domain.yaml", "schemas/shipping/shipments/v1/ShipmentRequested/1.avsc"] {
        // Quoted inside a numbered list: each line indented by three spaces.
        let text: String = std::fs::read_to_string(example.join(file))
            .unwrap()
            .lines()
            .map(|line| if line.is_empty() { "\n".to_owned() } else { format!("   {line}\n") })
            .collect();
        assert!(readme.contains(&text), "README.md does not quote docs/examples/shipping/{file} as it is");
    }
}

#[test]
fn dlq_names_the_subscriptions_a_domain_has_when_given_another() {
    let output = mesh(&repository(), &["dlq", "list", "customers/nothing"]);
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "customers consumes no product `nothing`; its subscriptions: customers/order-events\n"
    );
    let output = mesh(&repository(), &["dlq", "redrive", "order-events"]);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "`order-events` is not <consumer domain>/<consumed product>\n");
}
