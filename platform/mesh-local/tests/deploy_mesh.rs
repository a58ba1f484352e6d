//! The reference mesh deploys from `infra/` with the real function zips,
//! every stack holds what its template declares, the HTTP API reaches its
//! function through `api_url`, and `teardown` removes it all.

use std::time::Instant;

use mesh_local::{DeployOptions, Domain, Emulator, deploy_mesh, verify_stack_resources};

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
    for domain in Domain::ALL {
        let stack = mesh.domain(domain);
        for output in [
            stack.state_table(),
            stack.inbox_table(),
            stack.consumer_queue_url(),
            stack.consumer_dlq_url(),
            stack.consumer_function_name(),
        ] {
            assert!(!output.expect("typed output").is_empty());
        }
    }
    for domain in Domain::PRODUCERS {
        let stack = mesh.domain(domain);
        for output in [
            stack.outbox_table(),
            stack.relay_failure_queue_url(),
            stack.api_function_name(),
            stack.relay_function_name(),
            mesh.ports(domain).topic_arn(),
            mesh.ports(domain).stream_name(),
        ] {
            assert!(!output.expect("typed output").is_empty());
        }
    }

    // An invalid id is the function's business (a 4xx with a JSON body), not
    // the gateway's (`{"message":"Not Found"}`): the route reached the code.
    let url = mesh.api_url(Domain::Orders, "/orders/not-an-id").expect("api url");
    let (status, body) = emulator.http("GET", &url, None).await.expect("GET through the HTTP API");
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

/// A new function crate must reach the zips the harness uploads and the
/// Makefile builds: both lists are what the descriptors deploy.
#[test]
#[allow(clippy::unwrap_used)]
fn the_function_lists_are_what_the_descriptors_deploy() {
    let root = mesh_local::workspace_root().unwrap();
    let mesh = mesh::descriptor::load_mesh(&root).unwrap();
    let expected = mesh_aws::infra::function_crates(&mesh);
    let harness: std::collections::BTreeSet<String> = mesh_local::FUNCTIONS.iter().map(|f| (*f).to_owned()).collect();
    assert_eq!(harness, expected, "mesh_local::FUNCTIONS (platform/mesh-local/src/artifacts.rs)");
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    let line = makefile.lines().find_map(|l| l.strip_prefix("FUNCTIONS := ")).unwrap();
    let make: std::collections::BTreeSet<String> = line.split_whitespace().map(str::to_owned).collect();
    assert_eq!(make, expected, "FUNCTIONS in the Makefile");
}
