//! Where the harness finds the workspace and keeps its files.

use std::path::{Path, PathBuf};

use crate::HarnessError;

/// The workspace root: `MESH_ROOT` if set (a binary run from elsewhere),
/// else two levels above this crate's manifest.
pub fn workspace_root() -> Result<PathBuf, HarnessError> {
    let root = match std::env::var_os("MESH_ROOT") {
        Some(root) if !root.is_empty() => PathBuf::from(root),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    let root = root.canonicalize().map_err(HarnessError::io(format!(
        "workspace root {} (set MESH_ROOT to the repository root)",
        root.display()
    )))?;
    if !root.join("Cargo.toml").is_file() {
        return Err(HarnessError::Environment(format!(
            "{} has no Cargo.toml: set MESH_ROOT to the repository root",
            root.display()
        )));
    }
    Ok(root)
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, relative to the root, or `target`).
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// `<target>/mesh-local`: logs, zips, locks and scratch space of the harness.
pub(crate) fn harness_dir(root: &Path) -> PathBuf {
    target_dir(root).join("mesh-local")
}

/// The emulator files shipped with this crate (requirements, launcher).
pub(crate) fn emulator_dir(root: &Path) -> PathBuf {
    root.join("platform/mesh-local/emulator")
}

/// The templates the mesh deploys.
pub(crate) fn infra_dir(root: &Path) -> PathBuf {
    root.join("infra")
}

/// `create_dir_all` with the path in the error.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), HarnessError> {
    std::fs::create_dir_all(dir).map_err(HarnessError::io(format!("creating {}", dir.display())))
}

/// The last `lines` lines of a text file, for error messages.
pub(crate) fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => tail_of(&String::from_utf8_lossy(&bytes), lines),
        Err(err) => format!("(could not read {}: {err})", path.display()),
    }
}

/// The last `lines` lines of a text.
pub(crate) fn tail_of(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}
