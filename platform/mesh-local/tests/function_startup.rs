//! A function that cannot start says why in words: every function the mesh
//! deploys, started as Lambda starts it but with none of the settings its
//! template gives it, exits with status 1 and says why on stderr (which
//! Lambda sends to its log), never the `Debug` form of an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[tokio::test]
async fn a_function_started_without_its_settings_says_which_one_is_missing() {
    let root = mesh_local::workspace_root().expect("the workspace");
    let mesh = mesh_infra::load_mesh(&root).expect("the descriptors");
    let crates: Vec<String> = mesh_infra::plan::function_crates(&mesh).into_iter().collect();
    let names: Vec<&str> = crates.iter().map(String::as_str).collect();
    mesh_local::build_function_zips(&names).await.expect("the functions build");
    let binaries = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));

    for name in &crates {
        // What Lambda itself sets; a Runtime API nobody serves.
        let output = Command::new(binaries.join("debug").join(name))
            .env_clear()
            .envs([
                ("AWS_LAMBDA_FUNCTION_NAME", name.as_str()),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9"),
                ("AWS_REGION", "us-east-1"),
            ])
            .output()
            .expect("it runs");
        let said = String::from_utf8_lossy(&output.stderr);

        assert_eq!(output.status.code(), Some(1), "{name} exits with 1; it said: {said}");
        assert!(said.contains("the function cannot run: "), "{name} says why: {said}");
        assert!(!said.contains("Missing(\"") && !said.contains("Error: "), "{name} prints words, not Debug: {said}");
        // The registrar needs no setting of its own: it stops at the Runtime API.
        if name != mesh_infra::templates::REGISTRAR_CRATE {
            assert!(said.contains("missing environment variable "), "{name} names the variable: {said}");
            assert!(said.contains("(the domain's CloudFormation template sets it)"), "{name} says who sets it: {said}");
        }
    }
}
