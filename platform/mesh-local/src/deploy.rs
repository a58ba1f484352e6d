//! Deploying the reference mesh through the CloudFormation API, from the same
//! templates that go to AWS. Every deployment gets its own `Prefix`, so tests
//! can deploy in parallel against one endpoint.

use std::collections::{BTreeMap, HashMap};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_cloudformation::Client as CfnClient;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_sdk_s3::primitives::ByteStream;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use mesh_aws::infra::{PlannedStack, Source};

use crate::artifacts::{FUNCTIONS, build_function_zips};
use crate::host::{FunctionHost, HostedApi, emulator_settings, function_names};
use crate::paths::{infra_dir, target_dir, workspace_root};
use crate::template::Template;
use crate::{Emulator, HarnessError};

/// The domains of the reference mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Domain {
    /// Places orders; consumes customer-credit.
    Orders,
    /// Reserves credit; consumes order-events.
    Customers,
    /// Read side: keeps a sales view from order-events; publishes nothing
    /// (no ports stack, no outbox, no HTTP API).
    Analytics,
}

impl Domain {
    /// Every domain, in deployment order.
    pub const ALL: [Domain; 3] = [Domain::Orders, Domain::Customers, Domain::Analytics];

    /// The domains that publish a product (and so have a ports stack and an HTTP API).
    pub const PRODUCERS: [Domain; 2] = [Domain::Orders, Domain::Customers];

    /// `orders` / `customers` / `analytics`: the template and stack name stem.
    pub fn name(self) -> &'static str {
        match self {
            Domain::Orders => "orders",
            Domain::Customers => "customers",
            Domain::Analytics => "analytics",
        }
    }

    /// Whether the domain publishes a product (has a ports stack).
    pub fn has_product(self) -> bool {
        Self::PRODUCERS.contains(&self)
    }

    /// The product this domain publishes (a producer's only product in the reference mesh).
    pub fn product(self) -> Option<(&'static str, u32)> {
        match self {
            Domain::Orders => Some(("order-events", 1)),
            Domain::Customers => Some(("customer-credit", 1)),
            Domain::Analytics => None,
        }
    }

    /// The domain whose product this one consumes.
    pub fn producer(self) -> Domain {
        match self {
            Domain::Orders => Domain::Customers,
            Domain::Customers | Domain::Analytics => Domain::Orders,
        }
    }

    /// The logical-id stem of this domain's subscription (the consumed
    /// product's name, camel-cased, as `mesh infra generate` names it).
    fn subscription(self) -> &'static str {
        match self {
            Domain::Orders => "CustomerCredit",
            Domain::Customers | Domain::Analytics => "OrderEvents",
        }
    }
}

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
    /// Function crates to build, zip and upload.
    pub functions: Vec<String>,
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
            functions: FUNCTIONS.iter().map(|f| (*f).to_owned()).collect(),
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
    domain: Domain,
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

    /// `<Product>QueueUrl`: the subscription queue of the consumed product.
    pub fn consumer_queue_url(&self) -> Result<&str, HarnessError> {
        self.output(&format!("{}QueueUrl", self.domain.subscription()))
    }

    /// `<Product>DlqUrl`.
    pub fn consumer_dlq_url(&self) -> Result<&str, HarnessError> {
        self.output(&format!("{}DlqUrl", self.domain.subscription()))
    }

    /// `RelayFailureQueueUrl`: on-failure destination of the outbox relay.
    pub fn relay_failure_queue_url(&self) -> Result<&str, HarnessError> {
        self.output("RelayFailureQueueUrl")
    }

    /// `ApiFunctionName`.
    pub fn api_function_name(&self) -> Result<&str, HarnessError> {
        self.output("ApiFunctionName")
    }

    /// `<Product>FunctionName`: the function consuming the subscription.
    pub fn consumer_function_name(&self) -> Result<&str, HarnessError> {
        self.output(&format!("{}FunctionName", self.domain.subscription()))
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

/// The deployed reference mesh.
#[derive(Debug)]
pub struct DeployedMesh {
    prefix: String,
    artifact_bucket: String,
    endpoint: String,
    sdk_config: SdkConfig,
    s3: aws_sdk_s3::Client,
    platform: StackOutputs,
    ports: BTreeMap<Domain, PortsStack>,
    catalogs: BTreeMap<Domain, StackOutputs>,
    domains: BTreeMap<Domain, DomainStack>,
    /// Every stack, in deployment order (a mesh may hold domains besides the reference ones).
    all: Vec<StackOutputs>,
    /// How many of `all` nothing else had to precede (the platform and ports).
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
    let infra = options.infra_dir.clone().unwrap_or_else(|| infra_dir(&root));
    // Governance and contracts first: an invalid mesh deploys nothing.
    let mesh =
        mesh::descriptor::load_mesh(options.descriptors_root.as_deref().unwrap_or(&root)).map_err(|problems| {
            HarnessError::InvalidMesh(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
        })?;
    let prefix = options.prefix.clone().unwrap_or_else(|| {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        format!("m{}", &hex[..8])
    });
    let artifact_bucket = format!("{prefix}-mesh-artifacts");
    let sdk_config = emulator.sdk_config();
    let cfn = CfnClient::new(&sdk_config);
    let s3 = emulator.s3_client();
    let progress = options.progress.then(MultiProgress::new);
    let mut timings = DeployTimings::default();

    let started = Instant::now();
    let names: Vec<&str> = options.functions.iter().map(String::as_str).collect();
    let zips = build_function_zips(&names).await?;
    timings.build = started.elapsed();

    let started = Instant::now();
    s3.create_bucket()
        .bucket(&artifact_bucket)
        .send()
        .await
        .map_err(HarnessError::aws(format!("S3 CreateBucket {artifact_bucket}")))?;
    let uploads = names.iter().map(|name| {
        let s3 = s3.clone();
        let bucket = artifact_bucket.clone();
        let key = format!("{name}.zip");
        let path = zips.join(&key);
        async move {
            let body = ByteStream::from_path(&path)
                .await
                .map_err(|e| HarnessError::Environment(format!("reading {}: {e}", path.display())))?;
            s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .map_err(HarnessError::aws(format!("S3 PutObject s3://{bucket}/{key}")))?;
            Ok::<_, HarnessError>(())
        }
    });
    futures_join_all(uploads).await?;
    timings.upload = started.elapsed();

    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    };
    // The deployment settings `mesh infra plan` names, and the harness's own
    // knobs, passed to every template that declares them.
    let mut settings = options.extra_parameters.clone();
    for (key, value) in [
        ("Prefix", prefix.clone()),
        ("ArtifactBucket", artifact_bucket.clone()),
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

    let capabilities = emulator.capabilities();
    if !capabilities.runs_functions {
        // The endpoint would mark them enabled and never poll: the host plays them.
        settings.insert("EventSourceMappings".to_owned(), "Disabled".to_owned());
    }

    // The order and wiring `make deploy` uses: each wave holds every stack
    // whose inputs are all deployed, created in parallel.
    let mut pending = mesh_aws::infra::plan(&mesh);
    let mut deployed: BTreeMap<String, StackOutputs> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut wave = 0;
    let mut first_wave = 0;
    while !pending.is_empty() {
        let started = Instant::now();
        let ready = |stack: &PlannedStack| {
            stack.parameters.iter().all(|(_, source)| match source {
                Source::Output { stack, .. } => deployed.contains_key(stack),
                Source::Setting(_) => true,
            })
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
        let futures = now.iter().map(|stack| {
            let mut params = settings.clone();
            let values: Result<(), HarnessError> = stack.parameters.iter().try_for_each(|(name, source)| {
                if let Source::Output { stack, key } = source {
                    params.insert(name.clone(), deployed[stack].output(key)?.to_owned());
                }
                Ok(())
            });
            let file = stack.template.file_name().map(PathBuf::from).unwrap_or_default();
            let template = infra.join(file);
            let stack_name = format!("{prefix}-{}", stack.name);
            let cfn = cfn.clone();
            let progress = progress.clone();
            let name = stack.name.clone();
            let run_custom_resources = !capabilities.runs_functions && name.ends_with(CATALOG_SUFFIX);
            async move {
                values?;
                let outputs =
                    deploy_stack_with(&cfn, &stack_name, &template, &params, options.stack_timeout, progress.as_ref())
                        .await?;
                if run_custom_resources {
                    register_products(emulator, &template, &params).await?;
                }
                Ok::<_, HarnessError>((name, outputs))
            }
        });
        for (name, outputs) in futures_join_all(futures).await? {
            order.push(name.clone());
            deployed.insert(name, outputs);
        }
        if wave == 0 {
            first_wave = order.len();
            timings.ports = started.elapsed();
        } else {
            timings.domains += started.elapsed();
        }
        wave += 1;
    }

    let take = |name: &str| {
        deployed.get(name).cloned().ok_or_else(|| HarnessError::Environment(format!("the plan has no stack {name}")))
    };
    let platform = take("platform")?;
    let mut ports = BTreeMap::new();
    let mut catalogs = BTreeMap::new();
    let mut domains = BTreeMap::new();
    for domain in Domain::ALL {
        if domain.has_product() {
            ports.insert(domain, PortsStack(take(&format!("{}-ports", domain.name()))?));
            catalogs.insert(domain, take(&format!("{}{CATALOG_SUFFIX}", domain.name()))?);
        }
        domains.insert(domain, DomainStack { outputs: take(domain.name())?, domain });
    }
    let all = order.iter().map(|name| deployed[name].clone()).collect();
    let host = if capabilities.runs_functions {
        None
    } else {
        let mut apis = Vec::new();
        for stack in domains.values() {
            if let Ok(function_name) = stack.api_function_name() {
                let routes = http_api_routes(stack.outputs.template())?;
                apis.push(HostedApi { function_name: function_name.to_owned(), routes });
            }
        }
        let config = emulator.sdk_config();
        let functions = function_names(&config, &prefix).await?;
        let binaries = target_dir(&root).join("debug");
        Some(FunctionHost::start(&config, &emulator_settings(emulator), &functions, &binaries, &apis).await?)
    };

    Ok(DeployedMesh {
        all,
        first_wave,
        prefix,
        artifact_bucket,
        endpoint: emulator.endpoint().to_owned(),
        sdk_config,
        s3,
        platform,
        ports,
        catalogs,
        domains,
        timings,
        stack_timeout: options.stack_timeout,
        host,
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

    /// A product's ports stack.
    ///
    /// # Panics
    /// For a domain without a product ([`Domain::has_product`] is false).
    pub fn ports(&self, domain: Domain) -> &PortsStack {
        // Every producer's ports are always deployed: only a read-side domain misses.
        &self.ports[&domain]
    }

    /// A domain's stack.
    pub fn domain(&self, domain: Domain) -> &DomainStack {
        &self.domains[&domain]
    }

    /// The functions running on this machine, when the endpoint cannot run them.
    pub fn function_host(&self) -> Option<&FunctionHost> {
        self.host.as_ref()
    }

    /// A producer's catalog stack (its `Custom::DataProduct` resources).
    ///
    /// # Panics
    /// For a domain without a product.
    pub fn catalog(&self, domain: Domain) -> &StackOutputs {
        &self.catalogs[&domain]
    }

    /// The platform stack (the catalog registrar).
    pub fn platform(&self) -> &StackOutputs {
        &self.platform
    }

    /// Every stack, in deployment order.
    pub fn stacks(&self) -> Vec<&StackOutputs> {
        self.all.iter().collect()
    }

    /// Where the time of the deployment went.
    pub fn timings(&self) -> DeployTimings {
        self.timings
    }

    /// The URL of `path` on a domain's HTTP API: the template's
    /// `HttpApiEndpoint` when it is a real (https) endpoint, else the
    /// emulator's path-style execute-api URL, which needs no DNS for
    /// `<api>.execute-api.localhost` (MiniStack and LocalStack serve it).
    pub fn api_url(&self, domain: Domain, path: &str) -> Result<String, HarnessError> {
        let stack = self.domain(domain);
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
        let (base, dependents) = self.all.split_at(self.first_wave);
        futures_join_all(dependents.iter().map(|s| delete_stack(&cfn, s.name(), timeout))).await?;
        futures_join_all(base.iter().map(|s| delete_stack(&cfn, s.name(), timeout))).await?;
        delete_bucket(&self.s3, &self.artifact_bucket).await
    }
}

/// The catalog stacks' names end with it.
const CATALOG_SUFFIX: &str = "-catalog";

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
        let spec: mesh_aws::catalog::CatalogSpec = serde_json::from_str(&spec)
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

    let bar = progress.map(|p| {
        let bar = p.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(format!("{stack_name}: creating"));
        bar
    });

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

    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let stack = describe_stack(cfn, stack_name).await?;
        let status = stack.as_ref().and_then(|s| s.stack_status().cloned());
        if let Some(bar) = &bar {
            bar.set_message(format!("{stack_name}: {}", status.as_ref().map_or("?", StackStatus::as_str)));
        }
        match status {
            Some(StackStatus::CreateComplete) => {
                if let Some(bar) = &bar {
                    bar.finish_with_message(format!("{stack_name}: CREATE_COMPLETE"));
                }
                let outputs = stack
                    .iter()
                    .flat_map(|s| s.outputs())
                    .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                    .collect();
                return Ok(StackOutputs {
                    name: stack_name.to_owned(),
                    template: template_path.to_path_buf(),
                    outputs,
                });
            }
            Some(StackStatus::CreateInProgress) | None => {}
            Some(other) => {
                if let Some(bar) = &bar {
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
                Err(HarnessError::Aws { operation: format!("CloudFormation DescribeStacks {stack_name}"), message })
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
