//! `mesh infra`: the mesh's CloudFormation templates, generated from the
//! descriptors and committed under `infra/`.

use std::path::Path;

use clap::Subcommand;
use mesh::descriptor::Mesh;
use mesh_aws::infra;

#[derive(Debug, Subcommand)]
pub enum InfraCommand {
    /// Write every template under infra/ (platform, ports, catalog, domain stacks).
    Generate {
        /// Write nothing; fail if a committed template differs (drift).
        #[arg(long)]
        check: bool,
    },
}

pub fn run(root: &Path, mesh: &Mesh, command: InfraCommand) -> Result<(), String> {
    match command {
        InfraCommand::Generate { check } => generate(root, mesh, check),
    }
}

fn generate(root: &Path, mesh: &Mesh, check: bool) -> Result<(), String> {
    let started = std::time::Instant::now();
    let files = infra::generate(mesh);
    if check {
        let drift = infra::check(root, &files);
        if drift.is_empty() {
            println!("ok: {} templates are what the descriptors generate", files.len());
            return Ok(());
        }
        let mut lines: Vec<String> = drift.iter().map(ToString::to_string).collect();
        lines.push("the templates drifted from the descriptors: run `make infra` and commit infra/".to_owned());
        return Err(lines.join("\n"));
    }
    let changed = infra::write(root, &files).map_err(|e| format!("writing infra/: {e}"))?;
    for path in &changed {
        println!("wrote {}", path.display());
    }
    println!(
        "{} templates generated in {} ms, {} changed",
        files.len(),
        started.elapsed().as_millis(),
        changed.len()
    );
    Ok(())
}
