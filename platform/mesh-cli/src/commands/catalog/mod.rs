//! `mesh catalog`: the deployed catalog (sync from the descriptors; list and show read Glue,
//! never the local files, so consumers see what is really registered).

use std::path::Path;

use clap::Subcommand;
use mesh_aws::catalog::Registrar;
use mesh_infra::descriptor::ProductRef;
use mesh_infra::templates::{PortArns, catalog_spec};

use super::CommandError;

use discover::{list_products, show_product};

pub mod discover;

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Register every product of the descriptors in the catalog of a deployed mesh.
    Sync {
        /// The deployment prefix (its `<prefix>-<domain>-ports` stacks give the port ARNs).
        #[arg(long, default_value = "mesh")]
        prefix: String,
    },
    /// Every product in the catalog.
    List {
        #[arg(long, default_value = "mesh")]
        prefix: String,
    },
    /// One product: owner, versions, schemas, ports, consumers, service levels.
    Show {
        /// `<domain>/<product>`.
        product: String,
        #[arg(long)]
        version: Option<u32>,
        #[arg(long, default_value = "mesh")]
        prefix: String,
    },
}

pub async fn run(root: &Path, command: CatalogCommand) -> Result<(), CommandError> {
    match command {
        CatalogCommand::Sync { prefix } => sync(root, &prefix).await,
        CatalogCommand::List { prefix } => list(&prefix).await,
        CatalogCommand::Show { product, version, prefix } => show(&prefix, &product, version).await,
    }
}

async fn clients() -> (aws_sdk_glue::Client, aws_sdk_cloudformation::Client) {
    let config = mesh_aws::config::sdk_config().await;
    (aws_sdk_glue::Client::new(&config), aws_sdk_cloudformation::Client::new(&config))
}

async fn sync(root: &Path, prefix: &str) -> Result<(), CommandError> {
    let mesh = super::load(root)?;
    let (glue, cfn) = clients().await;
    let registrar = Registrar::new(glue);
    for domain in mesh.domains.iter().map(|d| &d.descriptor) {
        for product in &domain.products {
            let stack = format!("{prefix}-{}-ports", domain.domain);
            let described = cfn.describe_stacks().stack_name(&stack).send().await.map_err(CommandError::aws(
                format!("reading the ports of {}/{} from stack {stack}", domain.domain, product.name),
            ))?;
            let output = |key: &str| {
                described
                    .stacks()
                    .first()
                    .and_then(|s| s.outputs().iter().find(|o| o.output_key() == Some(key)))
                    .and_then(|o| o.output_value())
                    .map(str::to_string)
                    .ok_or_else(|| CommandError::Unexpected(format!("stack {stack} has no output {key}")))
            };
            let ports = PortArns { topic_arn: output("TopicArn")?, stream_arn: output("StreamArn")? };
            let spec = catalog_spec(prefix, &mesh, domain, product, ports);
            let report = registrar.sync(&spec).await?;
            println!(
                "{} v{}: {} created, {} updated, {} unchanged",
                spec.qualified_product(),
                product.version,
                report.created.len(),
                report.updated.len(),
                report.unchanged.len()
            );
            for item in report
                .created
                .iter()
                .map(|i| format!("  + {i}"))
                .chain(report.updated.iter().map(|i| format!("  ~ {i}")))
            {
                println!("{item}");
            }
        }
    }
    Ok(())
}

async fn list(prefix: &str) -> Result<(), CommandError> {
    let (glue, _) = clients().await;
    let products = list_products(&glue, prefix).await?;
    println!("{:<32} {:<18} {:<14} {:<22} event types", "product", "owner", "classification", "compatibility");
    for p in &products {
        let domain = p.database.trim_start_matches(&format!("{}_", prefix.replace('-', "_"))).to_string();
        println!(
            "{:<32} {:<18} {:<14} {:<22} {}",
            format!("{domain}/{} ", p.table),
            p.owner,
            p.parameter("classification"),
            p.parameter("compatibility"),
            p.parameter("event_types")
        );
    }
    if products.is_empty() {
        println!("(no products registered under prefix {prefix})");
    }
    Ok(())
}

async fn show(prefix: &str, product: &str, version: Option<u32>) -> Result<(), CommandError> {
    let (glue, _) = clients().await;
    let reference: ProductRef =
        product.parse().map_err(|e: mesh_infra::descriptor::NotAProductRef| CommandError::Usage(e.to_string()))?;
    let Some((entry, schemas)) = show_product(&glue, prefix, &reference, version).await? else {
        return Err(CommandError::Usage(format!("{product} is not in the catalog of {prefix}")));
    };
    println!("{product} (Glue table {}.{})", entry.database, entry.table);
    println!("  {}", entry.description);
    println!("  owner:           {} <{}>", entry.owner, entry.parameter("contact"));
    println!("  major version:   {}", entry.parameter("product_version"));
    println!("  classification:  {}", entry.parameter("classification"));
    println!("  PII:             {}", pii_line(entry.parameter("pii_columns"), entry.parameter("pii_readers")));
    println!("  ports:           SNS {}", entry.parameter("topic_arn"));
    println!(
        "                   Kinesis {} (replay {} h)",
        entry.parameter("stream_arn"),
        entry.parameter("retention_hours")
    );
    println!("  freshness:       events within {} s of the change", entry.parameter("freshness_seconds"));
    println!("  consumers:       {}", entry.parameter("subscribers"));
    println!("  columns:");
    for (name, glue_type) in &entry.columns {
        println!("    {name}: {glue_type}");
    }
    println!("  schemas (registry {}):", entry.parameter("schema_registry"));
    for schema in &schemas {
        println!("    {} [{}], {} version(s)", schema.name, schema.compatibility, schema.versions.len());
        if let Some((number, definition)) = schema.versions.last() {
            println!("      v{number}: {definition}");
        }
    }
    Ok(())
}

/// Which columns travel protected and who reads them in clear.
fn pii_line(columns: &str, readers: &str) -> String {
    if columns.is_empty() {
        return "none".to_owned();
    }
    let readers = if readers.is_empty() { "nobody" } else { readers };
    format!(
        "{columns}, protected ({{token, sealed}}); in clear for {readers}, every other subscriber reads the token",
        columns = columns.replace(',', ", "),
        readers = readers.replace(',', ", ")
    )
}
