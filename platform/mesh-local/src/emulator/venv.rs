//! The project-local virtualenv with the pinned emulator. Created on first
//! use, so a fresh clone needs nothing but `python3`; guarded by a file lock,
//! because parallel test processes all try to create it at once.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::HarnessError;
use crate::paths::{emulator_dir, ensure_dir, harness_dir, tail_of};

/// Written into the virtualenv after a successful install: a copy of the
/// requirements it was built from, so a changed pin triggers a reinstall.
const STAMP: &str = ".mesh-requirements";

/// A pinned Python environment the harness runs an emulator from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Venv {
    /// MiniStack: `.venv` (or `MESH_VENV`), from `requirements.txt`.
    MiniStack,
    /// moto server for Glue: `.venv-glue`, from `requirements-glue.txt`.
    Glue,
}

impl Venv {
    fn dir(self, root: &Path) -> PathBuf {
        match (self, std::env::var_os("MESH_VENV")) {
            (Venv::MiniStack, Some(dir)) if !dir.is_empty() => root.join(dir),
            (Venv::MiniStack, _) => root.join(".venv"),
            (Venv::Glue, _) => root.join(".venv-glue"),
        }
    }

    fn requirements(self, root: &Path) -> PathBuf {
        emulator_dir(root).join(match self {
            Venv::MiniStack => "requirements.txt",
            Venv::Glue => "requirements-glue.txt",
        })
    }
}

/// Makes sure the virtualenv exists with exactly the pinned requirements and
/// returns its python. Blocking: call it from `spawn_blocking`.
pub(crate) fn ensure_venv(root: &Path, which: Venv) -> Result<PathBuf, HarnessError> {
    let venv = which.dir(root);
    let python = venv.join("bin/python");
    let requirements = which.requirements(root);
    let wanted = std::fs::read_to_string(&requirements)
        .map_err(HarnessError::io(format!("reading {}", requirements.display())))?;
    if is_current(&venv, &python, &wanted) {
        return Ok(python);
    }

    let lock_dir = harness_dir(root);
    ensure_dir(&lock_dir)?;
    let lock_path = lock_dir.join(format!("{which:?}.venv.lock"));
    let lock = File::create(&lock_path).map_err(HarnessError::io(format!("creating {}", lock_path.display())))?;
    // flock: released when `lock` is dropped, also if this process dies.
    lock.lock().map_err(HarnessError::io(format!("locking {}", lock_path.display())))?;
    // Another process may have finished the install while we waited.
    if is_current(&venv, &python, &wanted) {
        return Ok(python);
    }

    if !python.is_file() {
        let interpreter = std::env::var("MESH_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let mut create = Command::new(&interpreter);
        create.arg("-m").arg("venv").arg(&venv);
        let output = create.output().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                HarnessError::PythonMissing { source }
            } else {
                HarnessError::io(format!("running {interpreter} -m venv"))(source)
            }
        })?;
        check(&venv, &format!("{interpreter} -m venv {}", venv.display()), &output)?;
    }

    let mut install = Command::new(&python);
    install.args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r"]).arg(&requirements);
    let output = install.output().map_err(HarnessError::io(format!("running {}", python.display())))?;
    check(&venv, &format!("pip install -r {}", requirements.display()), &output)?;

    let stamp = venv.join(STAMP);
    std::fs::write(&stamp, &wanted).map_err(HarnessError::io(format!("writing {}", stamp.display())))?;
    drop(lock);
    Ok(python)
}

fn is_current(venv: &Path, python: &Path, wanted: &str) -> bool {
    python.is_file() && std::fs::read_to_string(venv.join(STAMP)).is_ok_and(|have| have == wanted)
}

fn check(venv: &Path, command: &str, output: &Output) -> Result<(), HarnessError> {
    if output.status.success() {
        return Ok(());
    }
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Err(HarnessError::Virtualenv {
        venv: venv.to_path_buf(),
        command: command.to_owned(),
        status: output.status.to_string(),
        output: tail_of(&text, 30),
    })
}
