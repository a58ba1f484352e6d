//! The embedded emulator serves AWS calls through `sdk_config()`, and
//! dropping it leaves no process behind (not even the function processes
//! MiniStack spawned) and frees its port.

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use mesh_local::{Emulator, EmulatorOptions};

/// Alive = has a /proc entry and is not a zombie.
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

/// A `provided.al2023` bootstrap that never asks for its event: it stays
/// alive until someone ends it, like a function process mid-invocation.
fn sleeping_bootstrap_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    zip.start_file("bootstrap", options).expect("zip entry");
    zip.write_all(b"#!/bin/sh\nexec sleep 300\n").expect("zip write");
    zip.finish().expect("zip finish").into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_embedded_emulator_ends_every_process_and_frees_the_port() {
    // Its sleeping function has no role of a stack: IAM is not what is checked.
    let emulator = Emulator::start_with(EmulatorOptions { iam_enforcement: false, ..EmulatorOptions::default() })
        .await
        .expect("the emulator starts");
    eprintln!("emulator at {} ({:?})", emulator.endpoint(), emulator.startup_timings());

    let dynamodb = aws_sdk_dynamodb::Client::new(&emulator.sdk_config());
    dynamodb.list_tables().send().await.expect("ListTables through sdk_config()");

    if !emulator.is_embedded() {
        eprintln!("AWS_ENDPOINT_URL is set: nothing was started, nothing to stop");
        return;
    }
    let port = emulator.port().expect("an embedded emulator has a port");

    // A function process MiniStack spawns and would leave behind on its own.
    let lambda = aws_sdk_lambda::Client::new(&emulator.sdk_config());
    lambda
        .create_function()
        .function_name("sleeper")
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role("arn:aws:iam::000000000000:role/sleeper")
        .timeout(300)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(sleeping_bootstrap_zip()))
                .build(),
        )
        .send()
        .await
        .expect("CreateFunction");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let invoked = lambda
            .invoke()
            .function_name("sleeper")
            .invocation_type(aws_sdk_lambda::types::InvocationType::Event)
            .send()
            .await;
        if invoked.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "async Invoke kept failing: {invoked:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let deadline = Instant::now() + Duration::from_secs(15);
    let pids = loop {
        let pids = emulator.process_ids();
        if pids.len() >= 2 {
            break pids;
        }
        assert!(Instant::now() < deadline, "no function process appeared under the emulator: {pids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("emulator processes before drop: {pids:?}");

    let stopping = Instant::now();
    drop(emulator);
    eprintln!("stopped in {:?}", stopping.elapsed());

    let survivors: Vec<u32> = pids.iter().copied().filter(|pid| is_alive(*pid)).collect();
    assert!(survivors.is_empty(), "processes survived the emulator's drop: {survivors:?}");
    TcpListener::bind(("127.0.0.1", port)).expect("the emulator's port is free again");
}
