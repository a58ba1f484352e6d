//! Deploying a mesh through the CloudFormation API, from the same templates
//! that go to AWS, in the order and with the wiring of `mesh infra plan`.
//! Every deployment gets its own `Prefix`, so tests can deploy in parallel
//! against one endpoint. Its stacks are found by domain name, as the plan
//! names them; the functions built are the ones the descriptors name.

pub(crate) mod artifacts;
pub(crate) mod template;
pub(crate) mod verify;

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::Client as CfnClient;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_sdk_s3::primitives::ByteStream;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use mesh_infra::plan::{PlannedStack, Source, StackKind, function_crates};
use mesh_infra::templates::subscription_stem;

use crate::lambda::host::{FunctionHost, HostedApi, emulator_settings, function_names};
use crate::paths::{infra_dir, target_dir, workspace_root};
use crate::{Emulator, HarnessError};
use artifacts::build_function_zips;
use template::Template;

/// What to deploy and with which settings. `Default` suits the tests.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Name prefix of every resource; `None` = `m` + 8 random hex digits.
    pub prefix: Option<String>,
    /// `LogLevel` (becomes `RUST_LOG` of every function).
    pub log_level: String,
    /// `QueueVisibilityTimeout` of the consumer queues, in seconds: how soon
    /// a failed message is received again (and reaches the DLQ).
    pub queue_visibility_timeout: u32,
    /// `MaxReceiveCount` before a message moves to the DLQ.
    pub max_receive_count: u32,
    /// `RelayMaximumRetryAttempts` of the outbox stream mappings (-1 = until expiry).
    pub relay_maximum_retry_attempts: i32,
    /// `RelayMaximumRecordAgeInSeconds`, if the template's default does not suit.
    pub relay_maximum_record_age_seconds: Option<i32>,
    /// `RetentionPeriodHours` of the Kinesis ports, if not the template's default.
    pub retention_period_hours: Option<u32>,
    /// Function crates to build, zip and upload; `None` = every crate the
    /// descriptors deploy (each API handler and consumer handler, and the
    /// platform's relay and registrar).
    pub functions: Option<Vec<String>>,
    /// Where the templates are; `None` = `<root>/infra`.
    pub infra_dir: Option<PathBuf>,
    /// Where the descriptors and schemas are checked from before anything is
    /// deployed (default: the workspace root).
    pub descriptors_root: Option<PathBuf>,
    /// More parameters, passed to every template that declares them.
    pub extra_parameters: BTreeMap<String, String>,
    /// How long one stack may take to create or delete.
    pub stack_timeout: Duration,
    /// Show a spinner per stack on stderr (hidden when stderr is not a terminal).
    pub progress: bool,
}

impl Default for DeployOptions {
    fn default() -> Self {
        Self {
            prefix: None,
            log_level: "info".to_owned(),
            queue_visibility_timeout: 10,
            max_receive_count: 3,
            relay_maximum_retry_attempts: 3,
            relay_maximum_record_age_seconds: None,
            retention_period_hours: None,
            functions: None,
            infra_dir: None,
            descriptors_root: None,
            extra_parameters: BTreeMap::new(),
            stack_timeout: Duration::from_secs(600),
            progress: false,
        }
    }
}

/// A created stack and its outputs.
#[derive(Debug, Clone)]
pub struct StackOutputs {
    name: String,
    template: PathBuf,
    outputs: HashMap<String, String>,
}

impl StackOutputs {
    /// The stack name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The template it was created from.
    pub fn template(&self) -> &Path {
        &self.template
    }

    /// All outputs.
    pub fn outputs(&self) -> &HashMap<String, String> {
        &self.outputs
    }

    /// One output; the error names the stack, the key and the keys it has.
    pub fn output(&self, key: &str) -> Result<&str, HarnessError> {
        self.outputs.get(key).map(String::as_str).ok_or_else(|| {
            let mut available: Vec<&str> = self.outputs.keys().map(String::as_str).collect();
            available.sort_unstable();
            HarnessError::MissingOutput {
                stack: self.name.clone(),
                key: key.to_owned(),
                available: available.join(", "),
            }
        })
    }
}

/// A product's output ports stack (`<prefix>-<domain>-ports`).
#[derive(Debug, Clone)]
pub struct PortsStack(StackOutputs);

impl Deref for PortsStack {
    type Target = StackOutputs;
    fn deref(&self) -> &StackOutputs {
        &self.0
    }
}

impl PortsStack {
    /// `TopicArn`: the SNS fan-out port.
    pub fn topic_arn(&self) -> Result<&str, HarnessError> {
        self.output("TopicArn")
    }

    /// `StreamName`: the Kinesis log port.
    pub fn stream_name(&self) -> Result<&str, HarnessError> {
        self.output("StreamName")
    }

    /// `StreamArn`.
    pub fn stream_arn(&self) -> Result<&str, HarnessError> {
        self.output("StreamArn")
    }
}

/// A domain's stack (`<prefix>-<domain>`).
#[derive(Debug, Clone)]
pub struct DomainStack {
    outputs: StackOutputs,
}

impl Deref for DomainStack {
    type Target = StackOutputs;
    fn deref(&self) -> &StackOutputs {
        &self.outputs
    }
}

impl DomainStack {
    /// `StateTable`: the domain's private state.
    pub fn state_table(&self) -> Result<&str, HarnessError> {
        self.output("StateTable")
    }

    /// `OutboxTable`.
    pub fn outbox_table(&self) -> Result<&str, HarnessError> {
        self.output("OutboxTable")
    }

    /// `InboxTable`.
    pub fn inbox_table(&self) -> Result<&str, HarnessError> {
        self.output("InboxTable")
    }

    /// `HttpApiId`.
    pub fn http_api_id(&self) -> Result<&str, HarnessError> {
        self.output("HttpApiId")
    }

    /// `HttpApiEndpoint` as the template reports it (see [`DeployedMesh::api_url`]).
    pub fn http_api_endpoint(&self) -> Result<&str, HarnessError> {
        self.output("HttpApiEndpoint")
    }

    /// `<Product>QueueUrl`: the queue of the domain's subscription to
    /// `product` (the consumed product's name, `order-events`).
    pub fn queue_url(&self, product: &str) -> Result<&str, HarnessError> {
        self.output(&format!("{}QueueUrl", subscription_stem(product)))
    }

    /// `<Product>DlqUrl`: that subscription's DLQ.
    pub fn dlq_url(&self, product: &str) -> Result<&str, HarnessError> {
        self.output(&format!("{}DlqUrl", subscription_stem(product)))
    }

    /// `RelayFailureQueueUrl`: on-failure destination of the outbox relay.
    pub fn relay_failure_queue_url(&self) -> Result<&str, HarnessError> {
        self.output("RelayFailureQueueUrl")
    }

    /// The route keys (`POST /orders`) of the domain's HTTP API, from its
    /// template; none for a domain without one.
    pub fn api_routes(&self) -> Result<Vec<String>, HarnessError> {
        http_api_routes(self.outputs.template())
    }

    /// `ApiFunctionName`.
    pub fn api_function_name(&self) -> Result<&str, HarnessError> {
        self.output("ApiFunctionName")
    }

    /// `<Product>FunctionName`: the function consuming the subscription to `product`.
    pub fn consumer_function_name(&self, product: &str) -> Result<&str, HarnessError> {
        self.output(&format!("{}FunctionName", subscription_stem(product)))
    }

    /// `RelayFunctionName`.
    pub fn relay_function_name(&self) -> Result<&str, HarnessError> {
        self.output("RelayFunctionName")
    }
}

/// Where the time of a deployment went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeployTimings {
    /// `cargo build` and zipping.
    pub build: Duration,
    /// Bucket creation and uploads.
    pub upload: Duration,
    /// The ports stacks (in parallel).
    pub ports: Duration,
    /// The domain and catalog stacks (in parallel).
    pub domains: Duration,
}

/// A deployed mesh.
#[derive(Debug)]
pub struct DeployedMesh {
    prefix: String,
    artifact_bucket: String,
    endpoint: String,
    sdk_config: SdkConfig,
    s3: aws_sdk_s3::Client,
    stacks: Stacks,
    /// How many of the stacks nothing else had to precede (the platform and ports).
    first_wave: usize,
    timings: DeployTimings,
    stack_timeout: Duration,
    /// The functions, run here when the endpoint cannot run them.
    host: Option<FunctionHost>,
}

/// Checks the descriptors and contracts (governance included: nothing is
/// deployed for a mesh with an ungranted subscription), builds and uploads
/// the functions, then creates the stacks in the order and with the wiring
/// of `mesh infra plan` (what `make deploy` uses): the platform and ports
/// stacks in parallel, then the catalog and domain stacks (a domain stack
/// needs its own and the consumed products' ports, a catalog stack its ports
/// and the platform's registrar). Fails with every failed resource's reason.
pub async fn deploy_mesh(emulator: &Emulator, options: &DeployOptions) -> Result<DeployedMesh, HarnessError> {
    let root = workspace_root()?;
    // Governance and contracts first: an invalid mesh deploys nothing.
    let mesh = load_checked_mesh(options.descriptors_root.as_deref().unwrap_or(&root))?;
    let prefix = options.prefix.clone().unwrap_or_else(|| {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        format!("m{}", &hex[..8])
    });
    let artifact_bucket = format!("{prefix}-mesh-artifacts");
    let s3 = emulator.s3_client();
    let mut timings = DeployTimings::default();

    let functions = options.functions.clone().unwrap_or_else(|| function_crates(&mesh).into_iter().collect());
    let started = Instant::now();
    let names: Vec<&str> = functions.iter().map(String::as_str).collect();
    let zips = build_function_zips(&names).await?;
    timings.build = started.elapsed();
    let started = Instant::now();
    upload_functions(&s3, &artifact_bucket, &names, &zips).await?;
    timings.upload = started.elapsed();

    let mut settings = deployment_settings(emulator, options, &prefix, &artifact_bucket);
    let infra = options.infra_dir.clone().unwrap_or_else(|| infra_dir(&root));
    let plan = mesh_infra::plan::plan(&mesh);
    if !emulator.capabilities().identity {
        unserved_identity(&plan, emulator.region(), &mut settings);
    }
    let created = create_stacks(emulator, options, &infra, &prefix, plan, &settings).await?;
    timings.ports = created.first_wave_took;
    timings.domains = created.later_waves_took;
    let stacks = Stacks::sort(created.stacks)?;
    let host = if emulator.capabilities().runs_functions {
        None
    } else {
        Some(host_functions(emulator, &stacks, &prefix, &root, &functions).await?)
    };
    Ok(DeployedMesh {
        prefix,
        artifact_bucket,
        endpoint: emulator.endpoint().to_owned(),
        sdk_config: emulator.sdk_config(),
        s3,
        stacks,
        first_wave: created.first_wave,
        timings,
        stack_timeout: options.stack_timeout,
        host,
    })
}

/// The mesh under `root`, or every problem in it.
fn load_checked_mesh(root: &Path) -> Result<mesh_infra::Mesh, HarnessError> {
    mesh_infra::load_mesh(root).map_err(|problems| {
        HarnessError::InvalidMesh(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    })
}

/// Creates `bucket` and uploads `<name>.zip` of every function from `zips`, in parallel.
async fn upload_functions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    names: &[&str],
    zips: &Path,
) -> Result<(), HarnessError> {
    s3.create_bucket().bucket(bucket).send().await.map_err(HarnessError::aws(format!("S3 CreateBucket {bucket}")))?;
    let uploads = names.iter().map(|name| {
        let key = format!("{name}.zip");
        let path = zips.join(&key);
        async move {
            let body = ByteStream::from_path(&path)
                .await
                .map_err(|e| HarnessError::Environment(format!("reading {}: {e}", path.display())))?;
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .map_err(HarnessError::aws(format!("S3 PutObject s3://{bucket}/{key}")))?;
            Ok::<_, HarnessError>(())
        }
    });
    futures_join_all(uploads).await?;
    Ok(())
}

/// The deployment settings `mesh infra plan` names, and the harness's own
/// knobs, passed to every template that declares them.
fn deployment_settings(
    emulator: &Emulator,
    options: &DeployOptions,
    prefix: &str,
    artifact_bucket: &str,
) -> BTreeMap<String, String> {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    };
    let mut settings = options.extra_parameters.clone();
    for (key, value) in [
        ("Prefix", prefix.to_owned()),
        ("ArtifactBucket", artifact_bucket.to_owned()),
        ("ArtifactPrefix", String::new()),
        ("Architecture", arch.to_owned()),
        ("LogLevel", options.log_level.clone()),
        ("AlarmActionArn", String::new()),
        ("QueueVisibilityTimeout", options.queue_visibility_timeout.to_string()),
        ("MaxReceiveCount", options.max_receive_count.to_string()),
        ("RelayMaximumRetryAttempts", options.relay_maximum_retry_attempts.to_string()),
    ] {
        settings.insert(key.to_owned(), value);
    }
    if let Some(age) = options.relay_maximum_record_age_seconds {
        settings.insert("RelayMaximumRecordAgeInSeconds".to_owned(), age.to_string());
    }
    if let Some(hours) = options.retention_period_hours {
        settings.insert("RetentionPeriodHours".to_owned(), hours.to_string());
    }
    if !emulator.capabilities().runs_functions {
        // The endpoint would mark them enabled and never poll: the host plays them.
        settings.insert("EventSourceMappings".to_owned(), "Disabled".to_owned());
    }
    settings
}

/// An endpoint without Cognito creates the identity stack with nothing in
/// it: the APIs' issuer and client ids are settings that say so instead of
/// outputs (its API Gateway, skipped too, checks no token).
fn unserved_identity(plan: &[PlannedStack], region: &str, settings: &mut BTreeMap<String, String>) {
    for source in plan.iter().flat_map(|stack| stack.parameters.iter().map(|(_, source)| source)) {
        if let Source::SettingOr { setting, .. } = source {
            let placeholder = if setting == mesh_infra::templates::JWT_ISSUER {
                format!("https://cognito-idp.{region}.amazonaws.com/unserved")
            } else {
                "unserved".to_owned()
            };
            settings.entry(setting.clone()).or_insert(placeholder);
        }
    }
}

/// The stacks a plan created, in creation order, and how long the waves took.
struct Created {
    stacks: Vec<(PlannedStack, StackOutputs)>,
    /// How many stacks nothing else had to precede (the platform and ports).
    first_wave: usize,
    first_wave_took: Duration,
    later_waves_took: Duration,
}

/// Creates the plan's stacks in waves: each wave holds every stack whose
/// inputs are all deployed, created in parallel, its parameters wired from
/// `settings` and the outputs of earlier stacks.
async fn create_stacks(
    emulator: &Emulator,
    options: &DeployOptions,
    infra: &Path,
    prefix: &str,
    mut pending: Vec<PlannedStack>,
    settings: &BTreeMap<String, String>,
) -> Result<Created, HarnessError> {
    let cfn = CfnClient::new(&emulator.sdk_config());
    let progress = options.progress.then(MultiProgress::new);
    let mut deployed: BTreeMap<String, StackOutputs> = BTreeMap::new();
    let mut created = Created {
        stacks: Vec::new(),
        first_wave: 0,
        first_wave_took: Duration::ZERO,
        later_waves_took: Duration::ZERO,
    };
    while !pending.is_empty() {
        let started = Instant::now();
        let ready = |stack: &PlannedStack| {
            stack
                .parameters
                .iter()
                .all(|(_, source)| source.output(settings).is_none_or(|(s, _)| deployed.contains_key(s)))
        };
        let (now, later): (Vec<PlannedStack>, Vec<PlannedStack>) = pending.into_iter().partition(ready);
        if now.is_empty() {
            let names: Vec<String> = later.iter().map(|s| s.name.clone()).collect();
            return Err(HarnessError::Environment(format!(
                "the plan's stacks wait on each other: {}",
                names.join(", ")
            )));
        }
        pending = later;
        let wave = now.into_iter().map(|stack| {
            let parameters = wired_parameters(&stack, settings, &deployed);
            let template = infra.join(stack.template.file_name().map(PathBuf::from).unwrap_or_default());
            let (cfn, progress) = (&cfn, progress.as_ref());
            async move {
                let parameters = parameters?;
                let name = format!("{prefix}-{}", stack.name);
                let outputs =
                    deploy_stack_with(cfn, &name, &template, &parameters, options.stack_timeout, progress).await?;
                // An endpoint that runs no functions runs no custom resources either.
                if !emulator.capabilities().runs_functions && matches!(stack.kind, StackKind::Catalog { .. }) {
                    register_products(emulator, &template, &parameters).await?;
                }
                Ok::<_, HarnessError>((stack, outputs))
            }
        });
        for (stack, outputs) in futures_join_all(wave).await? {
            deployed.insert(stack.name.clone(), outputs.clone());
            created.stacks.push((stack, outputs));
        }
        if created.first_wave == 0 {
            created.first_wave = created.stacks.len();
            created.first_wave_took = started.elapsed();
        } else {
            created.later_waves_took += started.elapsed();
        }
    }
    Ok(created)
}

/// `settings`, plus each parameter the plan wires from an earlier stack's
/// output (unless a setting given for it takes its place).
fn wired_parameters(
    stack: &PlannedStack,
    settings: &BTreeMap<String, String>,
    deployed: &BTreeMap<String, StackOutputs>,
) -> Result<BTreeMap<String, String>, HarnessError> {
    let mut parameters = settings.clone();
    for (name, source) in &stack.parameters {
        match source.output(settings) {
            Some((stack, key)) => {
                let outputs = deployed.get(stack).ok_or_else(|| {
                    HarnessError::Environment(format!("{name} comes from stack {stack}, which is not deployed"))
                })?;
                parameters.insert(name.clone(), outputs.output(key)?.to_owned());
            }
            None => {
                if let Source::SettingOr { setting, .. } = source {
                    parameters.insert(name.clone(), settings[setting].clone());
                }
            }
        }
    }
    Ok(parameters)
}

/// Runs every function of the deployment `prefix` here, plays its mappings
/// and serves each domain's HTTP API, for an endpoint that cannot run them.
async fn host_functions(
    emulator: &Emulator,
    stacks: &Stacks,
    prefix: &str,
    root: &Path,
    crates: &[String],
) -> Result<FunctionHost, HarnessError> {
    let mut apis = Vec::new();
    for stack in stacks.domains.values() {
        if let Ok(function_name) = stack.api_function_name() {
            let routes = http_api_routes(stack.outputs.template())?;
            apis.push(HostedApi { function_name: function_name.to_owned(), routes });
        }
    }
    let config = emulator.sdk_config();
    let functions = function_names(&config, prefix).await?;
    let binaries = target_dir(root).join("debug");
    FunctionHost::start(&config, &emulator_settings(emulator), &functions, &binaries, crates, &apis).await
}

/// A deployment's stacks by role, and all of them in creation order.
#[derive(Debug)]
struct Stacks {
    platform: StackOutputs,
    identity: Option<StackOutputs>,
    ports: BTreeMap<String, PortsStack>,
    catalogs: BTreeMap<String, StackOutputs>,
    domains: BTreeMap<String, DomainStack>,
    all: Vec<StackOutputs>,
}

impl Stacks {
    fn sort(created: Vec<(PlannedStack, StackOutputs)>) -> Result<Self, HarnessError> {
        let (mut platform, mut identity) = (None, None);
        let (mut ports, mut catalogs, mut domains) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        let all = created.iter().map(|(_, outputs)| outputs.clone()).collect();
        for (planned, outputs) in created {
            match planned.kind {
                StackKind::Platform => platform = Some(outputs),
                StackKind::Identity => identity = Some(outputs),
                StackKind::Ports { domain } => _ = ports.insert(domain, PortsStack(outputs)),
                StackKind::Catalog { domain } => _ = catalogs.insert(domain, outputs),
                StackKind::Domain { domain } => _ = domains.insert(domain, DomainStack { outputs }),
            }
        }
        let platform = platform.ok_or_else(|| HarnessError::Environment("the plan has no platform stack".into()))?;
        Ok(Self { platform, identity, ports, catalogs, domains, all })
    }
}

/// `map[domain]`, or an error naming what the deployment has.
fn by_domain<'a, T>(map: &'a BTreeMap<String, T>, kind: &'static str, domain: &str) -> Result<&'a T, HarnessError> {
    map.get(domain).ok_or_else(|| HarnessError::NoStack {
        kind,
        domain: domain.to_owned(),
        deployed: map.keys().cloned().collect::<Vec<_>>().join(", "),
    })
}

impl DeployedMesh {
    /// The `Prefix` every stack and resource name starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bucket holding the function zips.
    pub fn artifact_bucket(&self) -> &str {
        &self.artifact_bucket
    }

    /// A producing domain's ports stack (`<prefix>-<domain>-ports`).
    pub fn ports(&self, domain: &str) -> Result<&PortsStack, HarnessError> {
        by_domain(&self.stacks.ports, "ports", domain)
    }

    /// A domain's stack (`<prefix>-<domain>`).
    pub fn domain(&self, domain: &str) -> Result<&DomainStack, HarnessError> {
        by_domain(&self.stacks.domains, "domain", domain)
    }

    /// Every domain stack, by domain name.
    pub fn domains(&self) -> &BTreeMap<String, DomainStack> {
        &self.stacks.domains
    }

    /// The functions running on this machine, when the endpoint cannot run them.
    pub fn function_host(&self) -> Option<&FunctionHost> {
        self.host.as_ref()
    }

    /// A producing domain's catalog stack (its `Custom::DataProduct` resources).
    pub fn catalog(&self, domain: &str) -> Result<&StackOutputs, HarnessError> {
        by_domain(&self.stacks.catalogs, "catalog", domain)
    }

    /// The platform stack (the catalog registrar).
    pub fn platform(&self) -> &StackOutputs {
        &self.stacks.platform
    }

    /// The identity stack (the user pool and the APIs' clients), if the mesh has one.
    pub fn identity(&self) -> Option<&StackOutputs> {
        self.stacks.identity.as_ref()
    }

    /// Every stack, in deployment order.
    pub fn stacks(&self) -> Vec<&StackOutputs> {
        self.stacks.all.iter().collect()
    }

    /// Where the time of the deployment went.
    pub fn timings(&self) -> DeployTimings {
        self.timings
    }

    /// The URL of `path` on a domain's HTTP API: the template's
    /// `HttpApiEndpoint` when it is a real (https) endpoint, else the
    /// emulator's path-style execute-api URL, which needs no DNS for
    /// `<api>.execute-api.localhost` (MiniStack and LocalStack serve it).
    pub fn api_url(&self, domain: &str, path: &str) -> Result<String, HarnessError> {
        let stack = self.domain(domain)?;
        let path = path.trim_start_matches('/');
        if let Some(host) = &self.host {
            let function = stack.api_function_name()?;
            let base = host.api_url(function).ok_or_else(|| {
                HarnessError::Environment(format!("the function host serves no HTTP API for {function}"))
            })?;
            return Ok(format!("{base}/{path}"));
        }
        if let Some(endpoint) = stack.outputs().get("HttpApiEndpoint").filter(|e| e.starts_with("https://")) {
            return Ok(format!("{}/{path}", endpoint.trim_end_matches('/')));
        }
        let api = stack.http_api_id()?;
        Ok(format!("{}/_aws/execute-api/{api}/$default/{path}", self.endpoint.trim_end_matches('/')))
    }

    /// Deletes the stacks (domains first, then ports) and the artifact
    /// bucket. Needed against an external endpoint; with the embedded
    /// emulator, dropping it discards everything anyway.
    pub async fn teardown(self) -> Result<(), HarnessError> {
        let cfn = CfnClient::new(&self.sdk_config);
        let timeout = self.stack_timeout;
        let (base, dependents) = self.stacks.all.split_at(self.first_wave);
        futures_join_all(dependents.iter().map(|s| delete_stack(&cfn, s.name(), timeout))).await?;
        futures_join_all(base.iter().map(|s| delete_stack(&cfn, s.name(), timeout))).await?;
        delete_bucket(&self.s3, &self.artifact_bucket).await
    }
}

/// What a catalog stack's `Custom::DataProduct` resources do, for an
/// endpoint that runs no custom resources (LocalStack community skips the
/// type, so the stack completes with nothing registered): each resource's
/// `Spec` (a `!Sub` over the stack's parameters) synced into Glue by the
/// registrar's own code, as its function would.
async fn register_products(
    emulator: &Emulator,
    template: &Path,
    parameters: &BTreeMap<String, String>,
) -> Result<(), HarnessError> {
    let registrar = mesh_aws::catalog::Registrar::new(emulator.glue_client());
    let template = Template::load(template)?;
    for (id, resource) in template.resources.iter().filter(|(_, r)| r.resource_type == "Custom::DataProduct") {
        let sub = match resource.properties.get("Spec") {
            Some(serde_norway::Value::Tagged(tagged)) if tagged.tag == "Sub" => tagged.value.as_str(),
            _ => None,
        };
        let Some(spec) = sub else {
            return Err(HarnessError::Environment(format!("{id}: Spec is not a !Sub string")));
        };
        let spec =
            parameters.iter().fold(spec.to_owned(), |spec, (name, value)| spec.replace(&format!("${{{name}}}"), value));
        let spec: mesh::catalog::CatalogSpec = serde_json::from_str(&spec)
            .map_err(|e| HarnessError::Environment(format!("{id}: Spec does not parse: {e}")))?;
        registrar.sync(&spec).await.map_err(|e| HarnessError::Environment(format!("registering {id} in Glue: {e}")))?;
    }
    Ok(())
}

/// The route keys (`POST /orders`) of the HTTP API in `template`.
fn http_api_routes(template: &Path) -> Result<Vec<String>, HarnessError> {
    let template = Template::load(template)?;
    Ok(template
        .resources
        .values()
        .filter(|r| r.resource_type == "AWS::ApiGatewayV2::Route")
        .filter_map(|r| r.properties.get("RouteKey").and_then(|k| k.as_str()).map(str::to_owned))
        .collect())
}

/// Creates one stack from `template` and waits for `CREATE_COMPLETE`. Only
/// the parameters the template declares are passed; a declared parameter
/// without a default that `parameters` lacks is an error before any call.
pub async fn deploy_stack(
    emulator: &Emulator,
    stack_name: &str,
    template: &Path,
    parameters: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<StackOutputs, HarnessError> {
    let cfn = CfnClient::new(&emulator.sdk_config());
    deploy_stack_with(&cfn, stack_name, template, parameters, timeout, None).await
}

/// The largest `TemplateBody` CloudFormation accepts.
const MAX_TEMPLATE_BODY: usize = 51_200;

async fn deploy_stack_with(
    cfn: &CfnClient,
    stack_name: &str,
    template_path: &Path,
    parameters: &BTreeMap<String, String>,
    timeout: Duration,
    progress: Option<&MultiProgress>,
) -> Result<StackOutputs, HarnessError> {
    let template = Template::load(template_path)?;
    if template.body.len() > MAX_TEMPLATE_BODY {
        return Err(HarnessError::Template {
            path: template.path.clone(),
            message: format!(
                "{} bytes, over CloudFormation's {MAX_TEMPLATE_BODY}-byte TemplateBody limit: split it \
                 (nested stacks) or teach mesh-local to upload it and pass TemplateURL",
                template.body.len()
            ),
        });
    }
    let passed = declared_parameters(&template, parameters)?;
    let bar = progress.map(|p| spinner(p, stack_name));
    cfn.create_stack()
        .stack_name(stack_name)
        .template_body(&template.body)
        .set_parameters(Some(passed))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .capabilities(Capability::CapabilityAutoExpand)
        .send()
        .await
        .map_err(HarnessError::aws(format!("CloudFormation CreateStack {stack_name}")))?;
    let outputs = wait_for_creation(cfn, stack_name, timeout, bar.as_ref()).await?;
    Ok(StackOutputs { name: stack_name.to_owned(), template: template_path.to_path_buf(), outputs })
}

/// The values of the parameters `template` declares; one without a default
/// that `parameters` lacks is an error.
fn declared_parameters(
    template: &Template,
    parameters: &BTreeMap<String, String>,
) -> Result<Vec<Parameter>, HarnessError> {
    let mut passed = Vec::new();
    for (name, decl) in &template.parameters {
        match parameters.get(name) {
            Some(value) => passed.push(Parameter::builder().parameter_key(name).parameter_value(value).build()),
            None if decl.has_default => {}
            None => {
                return Err(HarnessError::Template {
                    path: template.path.clone(),
                    message: format!(
                        "declares parameter {name} without a Default, and the harness has no value for it \
                         (it passes: {})",
                        parameters.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
    }
    Ok(passed)
}

/// A spinner on stderr for one stack.
fn spinner(progress: &MultiProgress, stack_name: &str) -> ProgressBar {
    let bar = progress.add(ProgressBar::new_spinner());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_message(format!("{stack_name}: creating"));
    bar
}

/// Polls the stack until `CREATE_COMPLETE` (its outputs), a failure (every
/// failed resource's reason) or `timeout`.
async fn wait_for_creation(
    cfn: &CfnClient,
    stack_name: &str,
    timeout: Duration,
    bar: Option<&ProgressBar>,
) -> Result<HashMap<String, String>, HarnessError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let stack = describe_stack(cfn, stack_name).await?;
        let status = stack.as_ref().and_then(|s| s.stack_status().cloned());
        if let Some(bar) = bar {
            bar.set_message(format!("{stack_name}: {}", status.as_ref().map_or("?", StackStatus::as_str)));
        }
        match status {
            Some(StackStatus::CreateComplete) => {
                if let Some(bar) = bar {
                    bar.finish_with_message(format!("{stack_name}: CREATE_COMPLETE"));
                }
                return Ok(stack
                    .iter()
                    .flat_map(|s| s.outputs())
                    .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                    .collect());
            }
            Some(StackStatus::CreateInProgress) | None => {}
            Some(other) => {
                if let Some(bar) = bar {
                    bar.abandon_with_message(format!("{stack_name}: {}", other.as_str()));
                }
                let reason = stack.and_then(|s| s.stack_status_reason().filter(|r| !r.is_empty()).map(str::to_owned));
                return Err(stack_failure(cfn, stack_name, other.as_str(), reason).await);
            }
        }
        if started.elapsed() >= timeout {
            return Err(HarnessError::StackTimeout {
                stack: stack_name.to_owned(),
                status: status.as_ref().map_or("unknown", StackStatus::as_str).to_owned(),
                waited: timeout,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 3 / 2).min(Duration::from_secs(2));
    }
}

/// The stack, or `None` when CloudFormation says it does not exist.
async fn describe_stack(
    cfn: &CfnClient,
    stack_name: &str,
) -> Result<Option<aws_sdk_cloudformation::types::Stack>, HarnessError> {
    match cfn.describe_stacks().stack_name(stack_name).send().await {
        Ok(out) => Ok(out.stacks.and_then(|s| s.into_iter().next())),
        Err(err) => {
            let message = aws_sdk_cloudformation::error::DisplayErrorContext(&err).to_string();
            if message.contains("does not exist") {
                Ok(None)
            } else {
                Err(HarnessError::aws(format!("CloudFormation DescribeStacks {stack_name}"))(err))
            }
        }
    }
}

/// A `StackFailed` error with every failed resource's reason, oldest first.
async fn stack_failure(cfn: &CfnClient, stack_name: &str, status: &str, reason: Option<String>) -> HarnessError {
    let mut failures = Vec::new();
    let events =
        cfn.describe_stack_events().stack_name(stack_name).into_paginator().items().send().collect::<Vec<_>>().await;
    for event in events.into_iter().rev() {
        match event {
            Ok(event) => {
                let failed = event.resource_status().is_some_and(|s| s.as_str().ends_with("_FAILED"));
                if failed {
                    failures.push(format!(
                        "  {} ({}): {}: {}",
                        event.logical_resource_id().unwrap_or("?"),
                        event.resource_type().unwrap_or("?"),
                        event.resource_status().map_or("?", |s| s.as_str()),
                        event.resource_status_reason().unwrap_or("(no reason given)"),
                    ));
                }
            }
            Err(err) => failures.push(format!(
                "  (DescribeStackEvents failed: {})",
                aws_sdk_cloudformation::error::DisplayErrorContext(&err)
            )),
        }
    }
    HarnessError::StackFailed { stack: stack_name.to_owned(), status: status.to_owned(), reason, failures }
}

async fn delete_stack(cfn: &CfnClient, stack_name: &str, timeout: Duration) -> Result<(), HarnessError> {
    cfn.delete_stack()
        .stack_name(stack_name)
        .send()
        .await
        .map_err(HarnessError::aws(format!("CloudFormation DeleteStack {stack_name}")))?;
    let started = Instant::now();
    loop {
        let stack = describe_stack(cfn, stack_name).await?;
        let status = stack.as_ref().and_then(|s| s.stack_status().cloned());
        match status {
            None | Some(StackStatus::DeleteComplete) => return Ok(()),
            Some(StackStatus::DeleteFailed) => {
                let reason = stack.and_then(|s| s.stack_status_reason().filter(|r| !r.is_empty()).map(str::to_owned));
                return Err(stack_failure(cfn, stack_name, "DELETE_FAILED", reason).await);
            }
            Some(other) if started.elapsed() >= timeout => {
                return Err(HarnessError::StackTimeout {
                    stack: stack_name.to_owned(),
                    status: other.as_str().to_owned(),
                    waited: timeout,
                });
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

async fn delete_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<(), HarnessError> {
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(HarnessError::aws(format!("S3 ListObjectsV2 {bucket}")))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                s3.delete_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(HarnessError::aws(format!("S3 DeleteObject s3://{bucket}/{key}")))?;
            }
        }
    }
    s3.delete_bucket().bucket(bucket).send().await.map_err(HarnessError::aws(format!("S3 DeleteBucket {bucket}")))?;
    Ok(())
}

/// Runs futures concurrently on this task; all finish (no call is left
/// dangling), then the first error, if any, is returned.
async fn futures_join_all<T, F>(futures: impl IntoIterator<Item = F>) -> Result<Vec<T>, HarnessError>
where
    F: std::future::Future<Output = Result<T, HarnessError>>,
{
    futures_util::future::join_all(futures).await.into_iter().collect()
}
