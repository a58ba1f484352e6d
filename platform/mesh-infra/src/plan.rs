//! The deployment plan: the mesh's stacks in the order they can be created,
//! each parameter wired to a deployment setting or an earlier stack's
//! output (`mesh infra plan`, read by `make deploy` and the harness), and
//! the function crates the mesh deploys, derived from the descriptors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::descriptor::Mesh;
use crate::templates::{
    self, REGISTRAR_CRATE, RELAY_CRATE, TOKEN_KEY_ARN, consumed_key_parameter, consumed_topic_parameter, reads_pii,
};

/// The identity stack's name (without the prefix).
pub const IDENTITY: &str = "identity";

/// Where a stack parameter's value comes from at deploy time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A deployment setting: `Prefix`, `ArtifactBucket`, `ArtifactPrefix`,
    /// `Architecture`, `LogLevel` or `AlarmActionArn`.
    Setting(&'static str),
    /// An output of a stack deployed earlier (stack name without the prefix).
    Output { stack: String, key: String },
    /// The deployment setting `setting` when one is given, else the output
    /// `key` of `stack`: the identity a team may take from elsewhere (another
    /// OIDC issuer and its clients).
    SettingOr { setting: String, stack: String, key: String },
}

impl Source {
    /// The earlier stack's output (stack, key) this value is wired from, given
    /// the deployment `settings`: none for a setting, or for a setting given
    /// in place of an output.
    pub fn output(&self, settings: &BTreeMap<String, String>) -> Option<(&str, &str)> {
        match self {
            Source::Setting(_) => None,
            Source::Output { stack, key } => Some((stack, key)),
            Source::SettingOr { setting, stack, key } => (!settings.contains_key(setting)).then_some((stack, key)),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Setting(name) => write!(f, "setting:{name}"),
            Source::Output { stack, key } => write!(f, "output:{stack}:{key}"),
            Source::SettingOr { setting, stack, key } => write!(f, "setting-or-output:{setting}:{stack}:{key}"),
        }
    }
}

/// What a stack holds, so that tools find a domain's stacks by role rather
/// than by a list of names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StackKind {
    /// `platform`: what every domain shares (the catalog registrar).
    Platform,
    /// `identity`: the mesh's token issuer and the clients its APIs accept.
    Identity,
    /// `<domain>-ports`: the domain's key and its products' topics and streams.
    Ports { domain: String },
    /// `<domain>-catalog`: the domain's products in Glue.
    Catalog { domain: String },
    /// `<domain>`: its tables, functions, subscriptions, API and alarms.
    Domain { domain: String },
}

/// One stack of a deployment, in order: every stack it takes outputs from comes earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStack {
    /// `<Prefix>-<name>` is the stack's name.
    pub name: String,
    pub kind: StackKind,
    pub template: PathBuf,
    pub parameters: Vec<(String, Source)>,
}

/// The deployment order and wiring of the mesh's stacks, for `make deploy`:
/// the platform, the identity and the ports first, then the catalogs and the domains.
pub fn plan(mesh: &Mesh) -> Vec<PlannedStack> {
    const CODE: [&str; 4] = ["ArtifactBucket", "ArtifactPrefix", "Architecture", "LogLevel"];
    let output = |stack: &str, key: &str| Source::Output { stack: stack.to_owned(), key: key.to_owned() };
    let mut stacks = Vec::new();
    let mut platform = vec![("Prefix".to_owned(), Source::Setting("Prefix"))];
    platform.extend(CODE.map(|name| (name.to_owned(), Source::Setting(name))));
    stacks.push(PlannedStack {
        name: "platform".into(),
        kind: StackKind::Platform,
        template: "infra/platform.yaml".into(),
        parameters: platform,
    });
    let identity = !templates::clients(mesh).is_empty();
    if identity {
        stacks.push(PlannedStack {
            name: IDENTITY.into(),
            kind: StackKind::Identity,
            template: templates::IDENTITY_TEMPLATE.into(),
            parameters: vec![("Prefix".to_owned(), Source::Setting("Prefix"))],
        });
    }
    for domain in mesh.domains.iter().map(|d| &d.descriptor).filter(|d| !d.products.is_empty()) {
        stacks.push(PlannedStack {
            name: format!("{}-ports", domain.domain),
            kind: StackKind::Ports { domain: domain.domain.clone() },
            template: format!("infra/{}-ports.yaml", domain.domain).into(),
            parameters: vec![("Prefix".to_owned(), Source::Setting("Prefix"))],
        });
    }
    for domain in mesh.domains.iter().map(|d| &d.descriptor) {
        let ports = format!("{}-ports", domain.domain);
        if let Some(product) = domain.products.first() {
            let (topic, stream) = (
                templates::topic_parameter(&product.name, product.version),
                templates::stream_parameter(&product.name, product.version),
            );
            stacks.push(PlannedStack {
                name: format!("{}-catalog", domain.domain),
                kind: StackKind::Catalog { domain: domain.domain.clone() },
                template: format!("infra/{}-catalog.yaml", domain.domain).into(),
                parameters: vec![
                    ("Prefix".to_owned(), Source::Setting("Prefix")),
                    ("RegistrarArn".to_owned(), output("platform", "RegistrarArn")),
                    (topic, output(&ports, "TopicArn")),
                    (stream, output(&ports, "StreamArn")),
                ],
            });
        }
        let mut parameters = vec![("Prefix".to_owned(), Source::Setting("Prefix"))];
        parameters.extend(CODE.map(|name| (name.to_owned(), Source::Setting(name))));
        if !domain.products.is_empty() {
            for key in ["TopicArn", "StreamName", "StreamArn", "KeyArn"] {
                parameters.push((key.to_owned(), output(&ports, key)));
            }
            if domain.products.iter().any(|product| templates::ordered_topic(mesh, domain, product)) {
                parameters.push(("OrderedTopicArn".to_owned(), output(&ports, "OrderedTopicArn")));
            }
            if domain.products.iter().any(|product| !product.pii.is_empty()) {
                parameters.push((TOKEN_KEY_ARN.to_owned(), output("platform", TOKEN_KEY_ARN)));
            }
        }
        for subscription in &domain.consumes {
            let producer = format!("{}-ports", subscription.product.domain);
            parameters.push((
                consumed_topic_parameter(subscription),
                output(&producer, templates::consumed_topic_output(subscription)),
            ));
            if reads_pii(mesh, domain, subscription) {
                parameters.push((consumed_key_parameter(subscription), output(&producer, "KeyArn")));
            }
        }
        if let Some(api) = domain.api.as_ref().filter(|api| identity && api.has_jwt_routes()) {
            let from_identity = |name: String| Source::SettingOr {
                setting: name.clone(),
                stack: IDENTITY.to_owned(),
                key: if name == templates::JWT_ISSUER { "IssuerUrl".to_owned() } else { name },
            };
            parameters.push((templates::JWT_ISSUER.to_owned(), from_identity(templates::JWT_ISSUER.to_owned())));
            for client in &api.clients {
                let name = templates::client_id_parameter(&client.name);
                parameters.push((name.clone(), from_identity(name)));
            }
        }
        parameters.push(("AlarmActionArn".to_owned(), Source::Setting("AlarmActionArn")));
        stacks.push(PlannedStack {
            name: domain.domain.clone(),
            kind: StackKind::Domain { domain: domain.domain.clone() },
            template: format!("infra/{}.yaml", domain.domain).into(),
            parameters,
        });
    }
    stacks
}

/// Every function crate the mesh deploys: the platform's registrar, and per
/// domain its API handler, its consumers' handlers and, if it publishes, the relay.
pub fn function_crates(mesh: &Mesh) -> BTreeSet<String> {
    let mut crates = BTreeSet::from([REGISTRAR_CRATE.to_owned()]);
    for domain in mesh.domains.iter().map(|d| &d.descriptor) {
        crates.extend(domain.api.iter().map(|api| api.handler.clone()));
        crates.extend(domain.consumes.iter().map(|s| s.handler.clone()));
        if !domain.products.is_empty() {
            crates.insert(RELAY_CRATE.to_owned());
        }
    }
    crates
}
