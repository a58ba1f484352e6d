//! The reference mesh deploys from `infra/` with the real function zips,
//! every stack holds what its template declares, the HTTP API reaches its
//! function through `api_url`, and `teardown` removes it all.

use std::time::Instant;

use mesh_local::{DeployOptions, Emulator, deploy_mesh, verify_stack_resources};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_mesh_deploys_verifies_answers_and_tears_down() {
    let emulator = Emulator::start().await.expect("the emulator starts");
    let started = Instant::now();
    let mesh = deploy_mesh(&emulator, &DeployOptions::default()).await.expect("the mesh deploys");
    eprintln!("deployed {} in {:?}: {:?}", mesh.prefix(), started.elapsed(), mesh.timings());

    // The order of `mesh infra plan`: what nothing precedes, then the rest.
    let names: Vec<&str> = mesh.stacks().iter().map(|s| s.name()).collect();
    let p = mesh.prefix().to_owned();
    assert_eq!(
        names,
        [
            format!("{p}-platform"),
            format!("{p}-identity"),
            format!("{p}-customers-ports"),
            format!("{p}-orders-ports"),
            format!("{p}-analytics"),
            format!("{p}-customers-catalog"),
            format!("{p}-customers"),
            format!("{p}-orders-catalog"),
            format!("{p}-orders"),
        ]
    );
    for stack in mesh.stacks() {
        let missing = verify_stack_resources(&emulator, stack.name(), stack.template()).await.expect("verify");
        assert!(missing.is_empty(), "{}: {missing:?}", stack.name());
    }
    // Every stack the descriptors imply is found by its domain's name.
    let descriptors = mesh_infra::load_mesh(&mesh_local::workspace_root().expect("the root")).expect("the descriptors");
    for domain in descriptors.domains.iter().map(|d| &d.descriptor) {
        let stack = mesh.domain(&domain.domain).expect("a domain stack");
        let mut outputs = vec![stack.state_table(), stack.inbox_table()];
        for subscription in &domain.consumes {
            let product = &subscription.product.product;
            outputs.extend([stack.queue_url(product), stack.dlq_url(product), stack.consumer_function_name(product)]);
        }
        if !domain.products.is_empty() {
            let ports = mesh.ports(&domain.domain).expect("a ports stack");
            outputs.extend([
                stack.outbox_table(),
                stack.relay_failure_queue_url(),
                stack.api_function_name(),
                stack.relay_function_name(),
                ports.topic_arn(),
                ports.stream_name(),
            ]);
        }
        for output in outputs {
            assert!(!output.expect("typed output").is_empty());
        }
    }
    let error = mesh.ports("analytics").expect_err("a read-side domain has no ports").to_string();
    assert!(error.contains("no ports stack for domain `analytics`") && error.contains("customers, orders"), "{error}");

    // An invalid id is the function's business (a 4xx with a JSON body), not
    // the gateway's (`{"message":"Not Found"}`): the route, with a token of a
    // client the API accepts, reached the code.
    let url = mesh.api_url("orders", "/orders/not-an-id").expect("api url");
    let tokens = mesh_local::Tokens::for_client(&emulator, &mesh, "reference-client").await.expect("its tokens");
    let bearer = tokens.bearer().await.expect("a token").map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("authorization", b.as_str())).collect();
    let (status, body) =
        emulator.http_client().http_with_headers("GET", &url, None, &headers).await.expect("GET through the HTTP API");
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(body.is_object() && body.get("message") != Some(&"Not Found".into()), "{status} {body}");

    mesh.teardown().await.expect("teardown");
    let cfn = aws_sdk_cloudformation::Client::new(&emulator.sdk_config());
    let live = cfn.list_stacks().send().await.expect("ListStacks");
    let left: Vec<_> = live
        .stack_summaries()
        .iter()
        .filter(|s| s.stack_name().is_some_and(|n| n.starts_with(&p)))
        .filter(|s| s.stack_status().is_some_and(|st| st.as_str() != "DELETE_COMPLETE"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A new function crate reaches the zips the harness uploads and the
/// Makefile builds without being listed anywhere: the list is what the
/// descriptors deploy, and it names every function crate of the workspace.
#[test]
#[allow(clippy::unwrap_used)]
fn the_functions_deployed_are_the_workspace_function_crates() {
    let root = mesh_local::workspace_root().unwrap();
    let mesh = mesh_infra::load_mesh(&root).unwrap();
    let deployed = mesh_infra::plan::function_crates(&mesh);
    let crates: std::collections::BTreeSet<String> = std::fs::read_dir(root.join("functions"))
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(deployed, crates, "function crates the descriptors deploy vs functions/*");
}
