//! `infra/platform.yaml`: what every domain shares. The catalog registrar
//! serves the `Custom::DataProduct` resources of the domains' catalog stacks.

use super::cfn::{Template, arn, att, r};
use super::checkov::FunctionKind;
use super::iam::{Function, Statement};
use super::key::{PLATFORM_KEY, TOKEN_KEY, add_platform_key, add_token_key};
use super::params;
use crate::descriptor::Mesh;

/// The platform output (and the domain stacks' parameter) with its ARN.
pub const TOKEN_KEY_ARN: &str = "TokenKeyArn";

pub const REGISTRAR_CRATE: &str = "catalog-registrar";

pub fn platform_template(mesh: &Mesh) -> Template {
    let mut t = Template::new(
        "Data mesh platform: what every domain shares. The catalog registrar serves the \
         Custom::DataProduct resources of the domains' catalog stacks: it registers each data product \
         in the Glue Data Catalog (a database per domain, a table per product major version) and the \
         Glue Schema Registry (a registry per domain, a schema per event type, every version), refusing \
         a version that breaks the product's compatibility mode. Deploy it first and pass its \
         RegistrarArn output to the catalog stacks.",
    );
    params::prefix(&mut t);
    params::code(&mut t);
    let name = format!("${{Prefix}}-{REGISTRAR_CRATE}");
    add_platform_key(&mut t, &[&name]);
    add_token_key(&mut t, mesh);
    Function {
        stem: "Registrar".to_owned(),
        crate_name: REGISTRAR_CRATE.to_owned(),
        name,
        description: "Registers data products in the Glue Data Catalog and Schema Registry (Custom::DataProduct)."
            .to_owned(),
        timeout_seconds: 120,
        memory_mb: 256,
        environment: Vec::new(),
        statements: vec![
            // Only this mesh's databases and tables (<Prefix>_<domain>).
            Statement::new(
                "Catalog",
                &[
                    "glue:GetDatabase",
                    "glue:CreateDatabase",
                    "glue:UpdateDatabase",
                    "glue:DeleteDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:DeleteTable",
                ],
                vec![arn("glue", "catalog"), arn("glue", "database/${Prefix}_*"), arn("glue", "table/${Prefix}_*/*")],
            ),
            // Only this mesh's registries (<Prefix>-<domain>) and their schemas.
            Statement::new(
                "SchemaRegistry",
                &[
                    "glue:GetRegistry",
                    "glue:CreateRegistry",
                    "glue:GetSchema",
                    "glue:CreateSchema",
                    "glue:UpdateSchema",
                    "glue:GetSchemaVersion",
                    "glue:RegisterSchemaVersion",
                ],
                vec![arn("glue", "registry/${Prefix}-*"), arn("glue", "schema/${Prefix}-*/*")],
            ),
        ],
        kind: FunctionKind::Registrar,
        log_key: att(PLATFORM_KEY, "Arn"),
        reserved_concurrency: None,
    }
    .add_to(&mut t);
    t.output(
        "RegistrarArn",
        "ServiceToken of the Custom::DataProduct resources (pass it to every catalog stack).",
        super::cfn::att("RegistrarFunction", "Arn"),
    );
    t.output("RegistrarFunctionName", "Name of the catalog registrar function.", r("RegistrarFunction"));
    t.output(
        TOKEN_KEY_ARN,
        "ARN of the mesh's PII token key (pass it to every domain stack that publishes PII).",
        att(TOKEN_KEY, "Arn"),
    );
    t
}
