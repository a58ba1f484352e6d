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
    for entry in std::fs::read_dir(source.join("domains")).unwrap().flatten() {
        let name = entry.file_name();
        std::fs::create_dir_all(target.join("domains").join(&name)).unwrap();
        std::fs::copy(entry.path().join("domain.yaml"), target.join("domains").join(&name).join("domain.yaml"))
            .unwrap();
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
        "ok: 3 domains, 2 products, 10 schema versions, every subscription granted\n"
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
            "domains/orders/domain.yaml:38:14: consumes[0].product: orders may not subscribe to customers/customer-credit v1: \
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
        table.contains("orders/order-events v1         OrderPlaced            2         FULL_TRANSITIVE      ok"),
        "{table}"
    );

    let root = copy();
    let events = root.join("schemas/customers/customer-credit/v1/CreditReserved");
    let v1 = std::fs::read_to_string(events.join("1.avsc")).unwrap();
    let v2 = v1.replace(r#""name": "amount_cents""#, r#""name": "amount""#);
    std::fs::write(events.join("2.avsc"), v2).unwrap();
    let path = root.join("domains/customers/domain.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "schemas: [customers/customer-credit/v1/CreditReserved/1.avsc]",
        "schemas: [customers/customer-credit/v1/CreditReserved/1.avsc, customers/customer-credit/v1/CreditReserved/2.avsc]",
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
