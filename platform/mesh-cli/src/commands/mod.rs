//! The `mesh` command: every subcommand works on the repository's
//! descriptors (`domains/*/domain.yaml`) and schemas (`schemas/`), except
//! `catalog list` and `catalog show`, which read the deployed catalog.

pub mod catalog;
pub mod dev;
pub mod dlq;
mod error;
mod graph;
pub mod guard;
mod infra;
mod odcs;
pub mod outbox;
pub mod sagas;
mod stack;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mesh::contract::check_versions;
use mesh::error::Chain;
use mesh_infra::descriptor::{Mesh, load_mesh};

pub use error::CommandError;

#[derive(Debug, Parser)]
#[command(name = "mesh", about = "Data products of the mesh: descriptors, contracts, catalog and lineage")]
pub struct Cli {
    /// The repository root (holding domains/ and schemas/).
    #[arg(long, global = true, default_value = ".")]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check every descriptor and schema; print every problem with file and line.
    Validate,
    /// Check every schema version against the earlier ones under its product's mode.
    Compat,
    /// The mesh's lineage (domains, products, subscriptions) as Mermaid or Graphviz.
    Graph {
        #[arg(long, value_enum, default_value = "mermaid")]
        format: graph::Format,
        /// Fail when this Markdown file's graph (between `<!-- mesh graph -->` markers) is stale.
        #[arg(long)]
        check: Option<PathBuf>,
        /// Rewrite that file's graph instead of printing.
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Export a product's contract.
    Export {
        #[command(subcommand)]
        format: Export,
    },
    /// The CloudFormation templates of the mesh, generated from the descriptors.
    Infra {
        #[command(subcommand)]
        command: infra::InfraCommand,
    },
    /// A subscription's dead letters (`<consumer domain>/<consumed product>`): list them and why, or redrive them.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// A domain's outbox: re-publish what the relay gave up on (`redrive <domain>`).
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// A domain's sagas: the entities stuck in a step (`stuck <domain>`).
    Sagas {
        #[command(subcommand)]
        command: SagasCommand,
    },
    /// The Glue catalog: sync it, or read it.
    Catalog {
        #[command(subcommand)]
        command: catalog::CatalogCommand,
    },
    /// Run a deployed function's handler here on its real queues and streams
    /// (its mappings are disabled on the endpoint until Ctrl-C).
    Dev {
        /// The deployed function's name (`<prefix>-analytics-sales`).
        function: String,
        /// A binary already built, instead of `cargo build -p <its crate>`.
        #[arg(long)]
        binary: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// What is in the DLQ and why (left in place).
    List {
        subscription: String,
        #[arg(long, default_value = "mesh")]
        prefix: String,
        #[arg(long, default_value_t = 50)]
        max: usize,
    },
    /// Move every message back to the subscription's queue, once the cause is fixed.
    Redrive {
        subscription: String,
        #[arg(long, default_value = "mesh")]
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// Re-publish the outbox items of every batch in the domain's relay-failures queue.
    Redrive {
        domain: String,
        #[arg(long, default_value = "mesh")]
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
enum SagasCommand {
    /// The entities of a domain stuck in a saga step, oldest first.
    ///
    /// For each step of the descriptor's `saga.deadlines`, an entity whose
    /// latest event is the step's `starts_with` waits for it. It is stuck
    /// when it waits past its deadline (the deadline is the stack's
    /// `<Step>TimeoutSeconds` after that event), or when its deadline is
    /// still ahead but no schedule keeps it in the domain's schedule group.
    /// One line per stuck entity (what it waits for, since when, why), then
    /// a summary. Entities written before the state kept its latest event
    /// are not seen.
    #[command(after_help = "Exit status: 0 when nothing is stuck, 1 when an entity is (or the check could not run).")]
    Stuck {
        /// The domain (its descriptor declares `saga.deadlines`).
        domain: String,
        /// Only entities waiting at least this long (`90s`, `10m`, `2h`, `1h30m`): a step just
        /// started may not have its deadline scheduled yet.
        #[arg(long, default_value = "0", value_parser = sagas::parse_duration)]
        older_than: chrono::TimeDelta,
        /// The deployed mesh's prefix: the domain's stack is `<prefix>-<domain>`.
        #[arg(long, default_value = "mesh")]
        prefix: String,
    },
}

#[derive(Debug, Subcommand)]
enum Export {
    /// Open Data Contract Standard v3 YAML.
    Odcs {
        /// `<domain>/<product>`.
        product: String,
        /// The major version (default: the highest).
        #[arg(long)]
        version: Option<u32>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Validate => load(&cli.root).map(|mesh| {
            let products: usize = mesh.domains.iter().map(|d| d.descriptor.products.len()).sum();
            println!(
                "ok: {} domains, {products} products, {} schema versions, every subscription granted",
                mesh.domains.len(),
                mesh.schemas.len()
            );
        }),
        Command::Compat => load(&cli.root).and_then(|mesh| compat(&mesh)),
        Command::Graph { format, check, write } => {
            load(&cli.root).and_then(|mesh| graph::run(&mesh, format, check.as_deref(), write.as_deref()))
        }
        Command::Export { format: Export::Odcs { product, version, output } } => {
            load(&cli.root).and_then(|mesh| odcs::run(&mesh, &product, version, output.as_deref()))
        }
        Command::Infra { command } => load(&cli.root).and_then(|mesh| infra::run(&cli.root, &mesh, command)),
        Command::Catalog { command } => catalog::run(&cli.root, command).await,
        Command::Dlq { command } => dlq(&cli.root, command).await,
        Command::Dev { function, binary } => {
            let config = mesh_aws::config::sdk_config().await;
            dev::run(&config, &function, binary.as_deref(), &cli.root).await.map_err(CommandError::from)
        }
        Command::Outbox { command: OutboxCommand::Redrive { domain, prefix } } => {
            match load(&cli.root).and_then(|mesh| {
                mesh.domain(&domain).filter(|d| !d.products.is_empty()).map(|_| ()).ok_or_else(|| {
                    CommandError::Usage(format!(
                        "no domain `{domain}` with a product (and so an outbox) in the descriptors"
                    ))
                })
            }) {
                Ok(()) => outbox::redrive(&mesh_aws::config::sdk_config().await, &prefix, &domain).await.map(|done| {
                    println!("re-published {} event(s) from {} failed batch(es) of {domain}", done.events, done.batches)
                }),
                Err(e) => Err(e),
            }
        }
        Command::Sagas { command: SagasCommand::Stuck { domain, older_than, prefix } } => {
            sagas_stuck(&cli.root, &domain, &prefix, older_than).await
        }
    };
    finish(result)
}

/// The command's exit status: 0, or 1 with the error (and every cause) on one line.
pub fn finish(result: Result<(), CommandError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", Chain(&error));
            ExitCode::FAILURE
        }
    }
}

async fn sagas_stuck(
    root: &std::path::Path,
    domain: &str,
    prefix: &str,
    older_than: chrono::TimeDelta,
) -> Result<(), CommandError> {
    let mesh = load(root)?;
    // A domain without deadlines says so before any AWS call.
    let deadlines = sagas::deadlines(&mesh, domain)?;
    let clients = sagas::Clients::new(&mesh_aws::config::sdk_config().await);
    let asked = sagas::Asked { domain, deadlines, prefix, older_than, now: chrono::Utc::now() };
    let report = sagas::check(&clients, &asked).await?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    print!("{}", report.stdout());
    report.verdict()
}

async fn dlq(root: &std::path::Path, command: DlqCommand) -> Result<(), CommandError> {
    let mesh = load(root)?;
    let sqs = aws_sdk_sqs::Client::new(&mesh_aws::config::sdk_config().await);
    match command {
        DlqCommand::List { subscription, prefix, max } => {
            let (_, dlq) = dlq::queues(&mesh, &prefix, &subscription)?;
            let letters = dlq::list(&sqs, &dlq, max).await?;
            println!("{dlq}: {} message(s)", letters.len());
            for letter in letters {
                let body: String = letter.body.chars().take(120).collect();
                println!(
                    "- {} type={} receives={}\n  why: {}\n  body: {body}",
                    letter.message_id,
                    letter.event_type.as_deref().unwrap_or("?"),
                    letter.receives,
                    letter.reason.as_deref().unwrap_or("failed maxReceiveCount times (see the function's log)"),
                );
            }
            Ok(())
        }
        DlqCommand::Redrive { subscription, prefix } => {
            let (queue, dlq) = dlq::queues(&mesh, &prefix, &subscription)?;
            let moved = dlq::redrive(&sqs, &queue, &dlq).await?;
            println!("moved {moved} message(s) from {dlq} back to {queue}");
            Ok(())
        }
    }
}

/// The mesh, or every problem in it as the error.
pub(crate) fn load(root: &std::path::Path) -> Result<Mesh, CommandError> {
    load_mesh(root).map_err(CommandError::InvalidMesh)
}

/// A table of every product's event types and what the mode says of them.
fn compat(mesh: &Mesh) -> Result<(), CommandError> {
    println!(
        "{:<30} {:<22} {:<9} {:<20} {:<24} result",
        "product", "event type", "versions", "mode", "protected (PII)"
    );
    let mut broken = 0;
    for domain in mesh.domains.iter().map(|d| &d.descriptor) {
        for product in &domain.products {
            for event in &product.events {
                let versions: Vec<_> = mesh.versions(&event.schemas).into_iter().cloned().collect();
                let found = check_versions(product.compatibility, &versions);
                let result = if found.is_empty() {
                    "ok".to_string()
                } else {
                    format!("BREAKS: {}", found.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
                };
                broken += found.len();
                // The latest version's fields in the protected form: what every port carries.
                let protected: Vec<String> = versions
                    .last()
                    .map(|v| mesh::pii::protected_fields(&v.schema).into_iter().map(|f| f.name).collect())
                    .unwrap_or_default();
                println!(
                    "{:<30} {:<22} {:<9} {:<20} {:<24} {result}",
                    format!("{}/{} v{}", domain.domain, product.name, product.version),
                    event.event_type,
                    versions.len(),
                    product.compatibility.to_string(),
                    if protected.is_empty() { "-".to_owned() } else { protected.join(",") }
                );
            }
        }
    }
    if broken > 0 {
        Err(CommandError::Failed(format!(
            "{broken} incompatible version(s): a breaking change needs a new major version"
        )))
    } else {
        Ok(())
    }
}
