//! `mesh infra`: the mesh's CloudFormation templates, generated from the
//! descriptors and committed under `infra/`.

use std::path::Path;

use clap::Subcommand;
use mesh_infra::descriptor::Mesh;
use mesh_infra::{grants, plan, templates};

use super::{CommandError, guard};

#[derive(Debug, Subcommand)]
pub enum InfraCommand {
    /// Write every template under infra/ (platform, ports, catalog, domain stacks).
    Generate {
        /// Write nothing; fail if a committed template differs (drift).
        #[arg(long)]
        check: bool,
    },
    /// The deployment order and wiring, one stack per line:
    /// `<stack> <template> <Parameter>=setting:<Name>|output:<stack>:<Output> ...` (read by tools/deploy.sh).
    Plan,
    /// Evaluate the Guard rules (infra/rules/*.guard) over every template, then check across
    /// stacks that every subscription's queue, key and consumer role admit its delivery and
    /// that every role's grant is used by a flow of its function; fail on any broken rule or finding.
    Check,
    /// The function crates the mesh deploys, one per line: each API and
    /// consumer handler the descriptors name, and the platform's own
    /// (what `make functions` and `make build` build).
    Functions,
}

pub fn run(root: &Path, mesh: &Mesh, command: InfraCommand) -> Result<(), CommandError> {
    match command {
        InfraCommand::Generate { check } => generate(root, mesh, check),
        InfraCommand::Check => {
            let rules = guard(root, mesh);
            let grants = cross_stack(root, mesh);
            rules.and(grants)
        }
        InfraCommand::Functions => {
            for name in plan::function_crates(mesh) {
                println!("{name}");
            }
            Ok(())
        }
        InfraCommand::Plan => {
            for stack in plan::plan(mesh) {
                let parameters: Vec<String> =
                    stack.parameters.iter().map(|(name, source)| format!("{name}={source}")).collect();
                println!("{} {} {}", stack.name, stack.template.display(), parameters.join(" "));
            }
            Ok(())
        }
    }
}

fn generate(root: &Path, mesh: &Mesh, check: bool) -> Result<(), CommandError> {
    let started = std::time::Instant::now();
    let files = templates::generate(mesh);
    if check {
        let drift = templates::check(root, &files);
        if drift.is_empty() {
            println!("ok: {} templates are what the descriptors generate", files.len());
            return Ok(());
        }
        let mut lines: Vec<String> = drift.iter().map(ToString::to_string).collect();
        lines.push("the templates drifted from the descriptors: run `make infra` and commit infra/".to_owned());
        return Err(CommandError::Failed(lines.join("\n")));
    }
    let changed = templates::write(root, &files).map_err(CommandError::io("writing infra/"))?;
    for path in &changed {
        println!("wrote {}", path.display());
    }
    println!("{} templates generated in {} ms, {} changed", files.len(), started.elapsed().as_millis(), changed.len());
    Ok(())
}

fn guard(root: &Path, mesh: &Mesh) -> Result<(), CommandError> {
    let paths: Vec<_> = templates::generate(mesh).into_iter().map(|file| root.join(file.path)).collect();
    let verdicts = guard::evaluate(&root.join(guard::RULES), &paths)?;
    let mut broken = 0;
    for verdict in &verdicts {
        let name = Path::new(&verdict.template)
            .file_name()
            .map_or(verdict.template.clone(), |n| n.to_string_lossy().into_owned());
        println!(
            "{name:<24} {:>2} passed {:>2} not applicable {:>2} failed",
            verdict.passed.len(),
            verdict.not_applicable.len(),
            verdict.failed.len()
        );
        for (rule, messages) in &verdict.failed {
            broken += 1;
            println!("  FAIL {rule}");
            for message in messages {
                println!("       {message}");
            }
        }
    }
    if broken == 0 {
        println!("ok: every rule of {} holds on {} templates", guard::RULES, verdicts.len());
        Ok(())
    } else {
        Err(CommandError::Failed(format!("{broken} rule(s) broken")))
    }
}

/// The cross-stack part: each finding on one line, then a summary.
fn cross_stack(root: &Path, mesh: &Mesh) -> Result<(), CommandError> {
    let stacks =
        grants::read(root, mesh).map_err(CommandError::io("reading the templates for the cross-stack check"))?;
    let report = grants::check(mesh, &stacks);
    for finding in &report.findings {
        println!("  FAIL {finding}");
    }
    let checked = format!(
        "{} subscriptions (queue policies, key policies, consumer roles), {} roles (every grant used by a flow), \
         {} queues and buckets (TLS only), {} PII key grants (producers, granted and ungranted subscribers) \
         across {} templates",
        report.subscriptions,
        report.roles,
        report.queues_and_buckets,
        report.pii_grants,
        stacks.stacks.len()
    );
    if report.findings.is_empty() {
        println!("ok: cross-stack grants hold for {checked}");
        Ok(())
    } else {
        Err(CommandError::Failed(format!("{} cross-stack finding(s) in {checked}", report.findings.len())))
    }
}
