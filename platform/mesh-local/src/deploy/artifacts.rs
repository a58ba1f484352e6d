//! Function zips, built from the same crates that are deployed to AWS. The
//! emulator runs them natively as `provided.al2023` bootstraps, so a debug
//! build for the host is enough locally (and much faster to build).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tokio::sync::Mutex;
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::HarnessError;
use crate::paths::{ensure_dir, harness_dir, tail_of, target_dir, workspace_root};

/// Crates already built by this process: `cargo build` runs once per crate
/// per process, and the lock makes concurrent callers wait for it.
static BUILT: Mutex<BTreeSet<String>> = Mutex::const_new(BTreeSet::new());

/// Builds the named function crates (debug, host target) and writes
/// `<target>/mesh-local/zips/<name>.zip` for each, with the binary as an
/// executable `bootstrap`. Returns the zips directory.
pub async fn build_function_zips(names: &[&str]) -> Result<PathBuf, HarnessError> {
    let root = workspace_root()?;
    let mut built = BUILT.lock().await;
    let missing: Vec<&str> = names.iter().copied().filter(|n| !built.contains(*n)).collect();
    if !missing.is_empty() {
        cargo_build(&root, &missing).await?;
        built.extend(missing.iter().map(|n| (*n).to_owned()));
    }

    let zips = harness_dir(&root).join("zips");
    ensure_dir(&zips)?;
    let binaries = target_dir(&root).join("debug");
    let jobs: Vec<(String, PathBuf, PathBuf)> =
        names.iter().map(|n| ((*n).to_owned(), binaries.join(n), zips.join(format!("{n}.zip")))).collect();
    // One thread per zip: compression is CPU-bound and the zips are independent.
    tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            let handles: Vec<_> =
                jobs.iter().map(|(name, binary, zip)| scope.spawn(move || zip_bootstrap(name, binary, zip))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| Err(HarnessError::Environment("a zip thread panicked".to_owned())))
                })
                .collect::<Result<Vec<()>, HarnessError>>()
        })
    })
    .await
    .map_err(|e| HarnessError::Environment(format!("zipping panicked: {e}")))??;
    Ok(zips)
}

async fn cargo_build(root: &Path, names: &[&str]) -> Result<(), HarnessError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = tokio::process::Command::new(&cargo);
    command.arg("build").current_dir(root);
    for name in names {
        command.arg("-p").arg(name);
    }
    let line = format!("{cargo} build -p {}", names.join(" -p "));
    let output = command.output().await.map_err(HarnessError::io(format!("running `{line}`")))?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Err(HarnessError::CargoBuild { command: line, status: output.status.to_string(), output: tail_of(&text, 40) })
}

/// Zips `binary` as `bootstrap` (mode 0755) into `zip`, unless `zip` is
/// already newer. Written to a temporary file and renamed, so a parallel test
/// process never uploads half a zip.
fn zip_bootstrap(name: &str, binary: &Path, zip: &Path) -> Result<(), HarnessError> {
    let binary_meta = std::fs::metadata(binary)
        .map_err(|_| HarnessError::BinaryMissing { name: name.to_owned(), path: binary.to_path_buf() })?;
    let binary_time = binary_meta.modified().map_err(HarnessError::io(format!("reading {}", binary.display())))?;
    if let Ok(zip_time) = std::fs::metadata(zip).and_then(|m| m.modified())
        && zip_time >= binary_time
    {
        return Ok(());
    }

    let fail = |message: String| HarnessError::Zip { path: zip.to_path_buf(), message };
    let partial = zip.with_extension(format!("zip.{}.partial", std::process::id()));
    let file = File::create(&partial).map_err(|e| fail(format!("creating {}: {e}", partial.display())))?;
    let mut writer = ZipWriter::new(BufWriter::new(file));
    // Deflate level 1: a few times smaller than stored for a fraction of the
    // time of the default level; the zip goes through S3 and Lambda in memory.
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
        .unix_permissions(0o755)
        .large_file(binary_meta.len() >= u64::from(u32::MAX));
    writer.start_file("bootstrap", options).map_err(|e| fail(e.to_string()))?;
    let mut input = File::open(binary).map_err(|e| fail(format!("opening {}: {e}", binary.display())))?;
    std::io::copy(&mut input, &mut writer).map_err(|e| fail(format!("compressing: {e}")))?;
    let mut out = writer.finish().map_err(|e| fail(e.to_string()))?;
    out.flush().map_err(|e| fail(e.to_string()))?;
    drop(out);
    std::fs::rename(&partial, zip).map_err(|e| fail(format!("renaming {}: {e}", partial.display())))?;
    Ok(())
}
