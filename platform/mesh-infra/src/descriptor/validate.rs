//! Loads every domain's descriptor and checks the mesh as a whole, reporting
//! every problem at once with its file and line: the JSON Schema first, then
//! what a schema cannot say (files exist and parse, versions keep the
//! product's compatibility mode, PII fields exist, subscriptions point at
//! real products and are granted by their owners).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::model::{Api, Descriptor, Order, Product, RouteAuth, Saga, Subscription};
use super::yaml::{self, Located};
use mesh::contract::{SchemaVersion, check_versions};
use mesh::pii::{PROTECTED_TYPE, protected_fields};

/// One thing wrong, where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The field, as a path: `products[0].compatibility`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// One domain's descriptor as loaded.
#[derive(Debug, Clone)]
pub struct DomainFile {
    /// Relative to the mesh's root: `domains/orders/domain.yaml`.
    pub path: PathBuf,
    pub descriptor: Descriptor,
    located: Located,
}

/// Every descriptor of a repository, and every schema they list.
#[derive(Debug, Clone)]
pub struct Mesh {
    pub root: PathBuf,
    pub domains: Vec<DomainFile>,
    /// By path relative to `schemas/`.
    pub schemas: BTreeMap<String, SchemaVersion>,
}

impl Mesh {
    pub fn domain(&self, name: &str) -> Option<&Descriptor> {
        self.domains.iter().map(|d| &d.descriptor).find(|d| d.domain == name)
    }

    /// The domains that take `producer`'s `product` in strict order: the
    /// product then also has a FIFO topic, and they subscribe FIFO queues.
    pub fn strict_subscribers(&self, producer: &str, product: &str) -> Vec<&str> {
        self.domains
            .iter()
            .map(|d| &d.descriptor)
            .filter(|d| {
                d.consumes
                    .iter()
                    .any(|s| s.order == Order::Strict && s.product.domain == producer && s.product.product == product)
            })
            .map(|d| d.domain.as_str())
            .collect()
    }

    /// Every version of one event type's schema, oldest first.
    pub fn versions(&self, files: &[String]) -> Vec<&SchemaVersion> {
        files.iter().filter_map(|f| self.schemas.get(f)).collect()
    }
}

const DESCRIPTOR_SCHEMA: &str = include_str!("../../../../schemas/descriptor.schema.json");

/// Loads and checks the mesh under `root` (the repository: `domains/`,
/// `schemas/`, `functions/`). Either every descriptor is valid, or every
/// problem found, in file order.
pub fn load_mesh(root: &Path) -> Result<Mesh, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut domains = Vec::new();
    let schema: Value = serde_json::from_str(DESCRIPTOR_SCHEMA).unwrap_or(Value::Null);
    let validator = match jsonschema::validator_for(&schema) {
        Ok(validator) => validator,
        Err(error) => {
            let file = PathBuf::from("schemas/descriptor.schema.json");
            return Err(vec![Problem { file, line: 1, column: 1, field: String::new(), message: error.to_string() }]);
        }
    };
    for path in descriptor_files(root) {
        let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let at = |line, column, field: String, message: String| Problem {
            file: relative.clone(),
            line,
            column,
            field,
            message,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) => {
                problems.push(at(1, 1, String::new(), format!("cannot be read: {error}")));
                continue;
            }
        };
        let located = match yaml::parse(&text) {
            Ok(located) => located,
            Err(error) => {
                problems.push(at(
                    error.line,
                    error.column,
                    String::new(),
                    format!("not valid YAML: {}", error.message),
                ));
                continue;
            }
        };
        let before = problems.len();
        for error in validator.iter_errors(&located.value) {
            let pointer = error.instance_path().to_string();
            let (line, column) = located.position(&pointer);
            problems.push(at(line, column, field_name(&pointer), schema_message(&schema, &error)));
        }
        if problems.len() > before {
            continue;
        }
        match serde_json::from_value::<Descriptor>(located.value.clone()) {
            Ok(descriptor) => domains.push(DomainFile { path: relative, descriptor, located }),
            Err(error) => problems.push(at(1, 1, String::new(), error.to_string())),
        }
    }
    let mut mesh = Mesh { root: root.to_path_buf(), domains, schemas: BTreeMap::new() };
    // A domain whose descriptor did not load is not "missing": subscriptions to it are not checked.
    let unloaded: Vec<String> = descriptor_files(root)
        .iter()
        .filter_map(|p| p.parent().and_then(Path::file_name).and_then(|n| n.to_str()).map(str::to_string))
        .filter(|name| mesh.domain(name).is_none())
        .collect();
    check_mesh(&mut mesh, &unloaded, &mut problems);
    if problems.is_empty() { Ok(mesh) } else { Err(problems) }
}

fn descriptor_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("domains"))
        .map(|entries| entries.flatten().map(|e| e.path().join("domain.yaml")).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// `/products/0/compatibility` → `products[0].compatibility`.
fn field_name(pointer: &str) -> String {
    let mut field = String::new();
    for part in pointer.split('/').skip(1) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.parse::<usize>().is_ok() {
            field.push_str(&format!("[{part}]"));
        } else {
            if !field.is_empty() {
                field.push('.');
            }
            field.push_str(&part);
        }
    }
    field
}

/// What was expected and what was found, in a person's words; a missing
/// field or a value of the wrong kind also says what the schema describes
/// there, so the reader learns what to write.
fn schema_message(schema: &Value, error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::{TypeKind, ValidationErrorKind as Kind};
    let found = error.instance();
    // The keyword's schema: `/properties/api/properties/routes/items/required` → `.../items`.
    let keyword = error.schema_path().as_str();
    let here = keyword.rsplit_once('/').map_or("", |(parent, _)| parent);
    let described = |pointer: String| {
        schema.pointer(&pointer).and_then(Value::as_str).map(|d| format!(": {}", d.trim_end_matches('.')))
    };
    match error.kind() {
        Kind::Required { property } => {
            let name = property.as_str().map_or_else(|| property.to_string(), str::to_owned);
            let why = described(format!("{here}/properties/{name}/description")).unwrap_or_default();
            format!("missing the required field {name}{why}")
        }
        Kind::Type { kind: TypeKind::Single(kind) } => {
            let why = described(format!("{here}/description")).unwrap_or_default();
            format!("expected {}, found {found}{why}", format!("{kind:?}").to_lowercase())
        }
        Kind::AdditionalProperties { unexpected } => {
            format!("unknown field{} `{}`", if unexpected.len() > 1 { "s" } else { "" }, unexpected.join("`, `"))
        }
        Kind::Enum { options } => {
            let options: Vec<String> =
                options.as_array().map(|o| o.iter().map(ToString::to_string).collect()).unwrap_or_default();
            format!("expected one of {}, found {found}", options.join(", "))
        }
        Kind::Minimum { limit } => format!("expected at least {limit}, found {found}"),
        Kind::Maximum { limit } => format!("expected at most {limit}, found {found}"),
        Kind::MinLength { limit } => format!("expected at least {limit} characters, found {found}"),
        Kind::MinItems { limit } => format!("expected at least {limit} item(s)"),
        Kind::Pattern { pattern } => format!("expected text matching {pattern}, found {found}"),
        Kind::Type { kind } => format!("expected {kind:?}, found {found}").to_lowercase(),
        _ => error.to_string(),
    }
}

fn check_mesh(mesh: &mut Mesh, unloaded: &[String], problems: &mut Vec<Problem>) {
    let mut schemas = BTreeMap::new();
    for file in &mesh.domains {
        check_domain(&mesh.root, file, problems, &mut schemas);
    }
    mesh.schemas = schemas;
    for file in &mesh.domains {
        for (s, subscription) in file.descriptor.consumes.iter().enumerate() {
            let problem = |pointer: &str, message: String| file.problem(&format!("/consumes/{s}{pointer}"), message);
            check_subscription(mesh, unloaded, &file.descriptor, subscription, &problem, problems);
        }
    }
    problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

impl DomainFile {
    /// A problem at `pointer` (`/products/0/name`) of this descriptor.
    fn problem(&self, pointer: &str, message: String) -> Problem {
        let (line, column) = self.located.position(pointer);
        Problem { file: self.path.clone(), line, column, field: field_name(pointer), message }
    }
}

/// What one descriptor says of itself: its name, its products and their
/// schemas, its subscriptions' names, its API's function crate.
fn check_domain(
    root: &Path,
    file: &DomainFile,
    problems: &mut Vec<Problem>,
    schemas: &mut BTreeMap<String, SchemaVersion>,
) {
    let d = &file.descriptor;
    let problem = |pointer: &str, message: String| file.problem(pointer, message);
    let directory = file.path.parent().and_then(Path::file_name).and_then(|n| n.to_str()).unwrap_or_default();
    if d.domain != directory {
        problems.push(problem("/domain", format!("expected the directory's name `{directory}`, found `{}`", d.domain)));
    }
    for (p, product) in d.products.iter().enumerate() {
        if d.products[..p].iter().any(|other| other.name == product.name && other.version == product.version) {
            problems.push(problem(
                &format!("/products/{p}/name"),
                format!("product `{} v{}` is declared twice", product.name, product.version),
            ));
        }
        check_product(root, d, product, p, &problem, problems, schemas);
    }
    // The outbox relay publishes every event of a domain to one product's
    // ports: a second product needs a relay that routes by event type.
    if d.products.len() > 1 {
        problems.push(problem(
            "/products/1",
            format!(
                "{} declares {} products; the platform deploys one outbox relay per domain, which publishes to one product's ports",
                d.domain,
                d.products.len()
            ),
        ));
    }
    for (s, subscription) in d.consumes.iter().enumerate() {
        if d.consumes[..s].iter().any(|other| other.product.product == subscription.product.product) {
            problems.push(problem(
                &format!("/consumes/{s}/product"),
                format!(
                    "{} consumes two products named `{}`: their queues would share a name",
                    d.domain, subscription.product.product
                ),
            ));
        }
    }
    if let Some(saga) = &d.saga {
        check_deadlines(d, saga, &problem, problems);
    }
    if let Some(api) = &d.api {
        if !root.join("functions").join(&api.handler).is_dir() {
            problems.push(problem(
                "/api/handler",
                format!("expected a function crate, but functions/{} does not exist", api.handler),
            ));
        }
        check_routes(d, api, &problem, problems);
        check_clients(d, api, &problem, problems);
    }
}

/// A deadline starts with one of the domain's own events (the relay sees
/// it) and is delivered to the queue of the subscription that ends the step.
fn check_deadlines(
    d: &Descriptor,
    saga: &Saga,
    problem: &dyn Fn(&str, String) -> Problem,
    problems: &mut Vec<Problem>,
) {
    for (i, deadline) in saga.deadlines.iter().enumerate() {
        let at = |field: &str| format!("/saga/deadlines/{i}/{field}");
        if saga.deadlines[..i].iter().any(|other| other.step == deadline.step) {
            problems.push(problem(&at("step"), format!("step `{}` has two deadlines", deadline.step)));
        }
        let published = d.products.iter().flat_map(|p| &p.events).any(|e| e.event_type == deadline.starts_with);
        if !published {
            problems.push(problem(
                &at("starts_with"),
                format!(
                    "{} publishes no `{}`: a deadline starts with an event of the domain's own products",
                    d.domain, deadline.starts_with
                ),
            ));
        }
        match d.consumes.iter().find(|c| c.product == deadline.waits_for && c.handler == deadline.handler) {
            None => problems.push(problem(
                &at("waits_for"),
                format!(
                    "{} does not consume {}: the deadline is delivered to the queue of the subscription that ends the step",
                    deadline.handler, deadline.waits_for
                ),
            )),
            // EventBridge Scheduler sets no deduplication id, which a FIFO
            // queue without content-based deduplication requires.
            Some(c) if c.order == Order::Strict => problems.push(problem(
                &at("waits_for"),
                format!(
                    "{} takes {} in strict order (a FIFO queue), which EventBridge Scheduler cannot deliver a deadline to",
                    deadline.handler, deadline.waits_for
                ),
            )),
            Some(_) => {}
        }
    }
}

/// Who may call each route: a `jwt` route names the scopes a token needs
/// (this domain's own), an `iam` route none (IAM policies say who may).
fn check_routes(d: &Descriptor, api: &Api, problem: &dyn Fn(&str, String) -> Problem, problems: &mut Vec<Problem>) {
    for (r, route) in api.routes.iter().enumerate() {
        if api.routes[..r].iter().any(|other| other.route == route.route) {
            problems.push(problem(&format!("/api/routes/{r}/route"), format!("`{}` is declared twice", route.route)));
        }
        match route.auth {
            RouteAuth::Jwt if route.scopes.is_empty() => problems.push(problem(
                &format!("/api/routes/{r}/auth"),
                format!(
                    "a jwt route needs at least one scope (`{}/<name>`): a token without one is refused",
                    d.domain
                ),
            )),
            RouteAuth::Iam if !route.scopes.is_empty() => problems.push(problem(
                &format!("/api/routes/{r}/scopes"),
                "an iam route takes no scopes: the caller's IAM policy (execute-api:Invoke on the route) says who may call it"
                    .to_owned(),
            )),
            RouteAuth::Jwt | RouteAuth::Iam => {}
        }
        for (i, scope) in route.scopes.iter().enumerate() {
            check_scope_domain(d, scope, &format!("/api/routes/{r}/scopes/{i}"), problem, problems);
        }
    }
}

/// The clients an API accepts: each at most once, granted only scopes its
/// routes ask for; an API with `jwt` routes accepts at least one (their ids
/// are the tokens' audience).
fn check_clients(d: &Descriptor, api: &Api, problem: &dyn Fn(&str, String) -> Problem, problems: &mut Vec<Problem>) {
    if api.has_jwt_routes() && api.clients.is_empty() {
        problems.push(problem(
            "/api/routes",
            "jwt routes need the clients whose tokens they accept: list them under api.clients (name and scopes)"
                .to_owned(),
        ));
    }
    let asked = api.scopes();
    for (c, client) in api.clients.iter().enumerate() {
        if api.clients[..c].iter().any(|other| other.name == client.name) {
            problems
                .push(problem(&format!("/api/clients/{c}/name"), format!("client `{}` is listed twice", client.name)));
        }
        for (i, scope) in client.scopes.iter().enumerate() {
            let pointer = format!("/api/clients/{c}/scopes/{i}");
            if !check_scope_domain(d, scope, &pointer, problem, problems) {
                continue;
            }
            if !asked.contains(&scope.as_str()) {
                let routes = if asked.is_empty() { "none".to_owned() } else { asked.join(", ") };
                problems.push(problem(
                    &pointer,
                    format!("no route of this API asks for `{scope}` (the routes ask for {routes})"),
                ));
            }
        }
    }
}

/// A scope is `<domain>/<name>` of the API's own domain; false if not (said in `problems`).
fn check_scope_domain(
    d: &Descriptor,
    scope: &str,
    pointer: &str,
    problem: &dyn Fn(&str, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> bool {
    let own = scope.split_once('/').is_some_and(|(domain, _)| domain == d.domain);
    if !own {
        problems.push(problem(
            pointer,
            format!("`{scope}` is not a scope of this domain: the {} API grants only `{}/<name>`", d.domain, d.domain),
        ));
    }
    own
}

/// One subscription against the mesh: its handler crate exists, the product
/// and version exist, the owner grants it, its event types are the
/// product's, and `order: sequence` takes every one of them.
fn check_subscription(
    mesh: &Mesh,
    unloaded: &[String],
    d: &Descriptor,
    subscription: &Subscription,
    problem: &dyn Fn(&str, String) -> Problem,
    problems: &mut Vec<Problem>,
) {
    let wanted = &subscription.product;
    if !mesh.root.join("functions").join(&subscription.handler).is_dir() {
        problems.push(problem(
            "/handler",
            format!("expected a function crate, but functions/{} does not exist", subscription.handler),
        ));
    }
    let Some(producer) = mesh.domain(&wanted.domain) else {
        if !unloaded.contains(&wanted.domain) {
            problems.push(problem("/product", format!("no domain `{}` in this mesh", wanted.domain)));
        }
        return;
    };
    let Some(product) =
        producer.products.iter().find(|p| p.name == wanted.product && p.version == subscription.version)
    else {
        let versions: Vec<String> =
            producer.products.iter().filter(|p| p.name == wanted.product).map(|p| format!("v{}", p.version)).collect();
        let found =
            if versions.is_empty() { "no such product".to_string() } else { format!("it has {}", versions.join(", ")) };
        problems.push(problem("/product", format!("{wanted} v{} does not exist: {found}", subscription.version)));
        return;
    };
    if !product.access.subscribers.contains(&d.domain) {
        let granted =
            if product.access.subscribers.is_empty() { "nobody".into() } else { product.access.subscribers.join(", ") };
        problems.push(problem(
            "/product",
            format!(
                "{} may not subscribe to {wanted} v{}: its owner ({}) grants only {granted}; ask them to add `{}` to access.subscribers",
                d.domain, subscription.version, producer.owner.team, d.domain
            ),
        ));
    }
    for (e, event_type) in subscription.events.iter().enumerate() {
        if !product.events.iter().any(|ev| &ev.event_type == event_type) {
            problems.push(problem(
                &format!("/events/{e}"),
                format!("{wanted} v{} has no event type `{event_type}`", subscription.version),
            ));
        }
    }
    let missing: Vec<&str> = product
        .events
        .iter()
        .map(|ev| ev.event_type.as_str())
        .filter(|t| !subscription.events.iter().any(|wanted| wanted == t))
        .collect();
    if subscription.order == Order::Sequence && !missing.is_empty() {
        problems.push(problem(
            "/order",
            format!(
                "`order: sequence` needs every event type of {wanted} v{} (a gap left by a filtered type \
                 would hold the next event back forever), but {} are not consumed: add them or use `order: strict`",
                subscription.version,
                missing.join(", ")
            ),
        ));
    }
}

fn check_product(
    root: &Path,
    d: &Descriptor,
    product: &Product,
    p: usize,
    problem: &dyn Fn(&str, String) -> Problem,
    problems: &mut Vec<Problem>,
    schemas: &mut BTreeMap<String, SchemaVersion>,
) {
    let mut latest_fields = Vec::new();
    for (e, event) in product.events.iter().enumerate() {
        let directory = format!("{}/{}/v{}/{}", d.domain, product.name, product.version, event.event_type);
        let mut versions = Vec::new();
        for (v, file) in event.schemas.iter().enumerate() {
            let pointer = format!("/products/{p}/events/{e}/schemas/{v}");
            let expected = format!("{directory}/{}.avsc", v + 1);
            if *file != expected {
                problems.push(problem(
                    &pointer,
                    format!(
                        "expected `{expected}` (versions are listed in order, one file per version), found `{file}`"
                    ),
                ));
                continue;
            }
            let text = match std::fs::read_to_string(root.join("schemas").join(file)) {
                Ok(text) => text,
                Err(_) => {
                    problems.push(problem(&pointer, format!("schemas/{file} does not exist")));
                    continue;
                }
            };
            match SchemaVersion::parse(v as u32 + 1, format!("schemas/{file}"), &text) {
                Ok(schema) if schema.name() != Some(event.event_type.as_str()) => problems.push(problem(
                    &pointer,
                    format!(
                        "the record in schemas/{file} is named {:?}, expected `{}`",
                        schema.name().unwrap_or("nothing"),
                        event.event_type
                    ),
                )),
                Ok(schema) => {
                    schemas.insert(file.clone(), schema.clone());
                    versions.push(schema);
                }
                Err(error) => problems.push(problem(&pointer, error.to_string())),
            }
        }
        let listed: Vec<String> = event.schemas.iter().map(|f| format!("schemas/{f}")).collect();
        if let Ok(entries) = std::fs::read_dir(root.join("schemas").join(&directory)) {
            let mut unlisted: Vec<String> = entries
                .flatten()
                .map(|entry| format!("schemas/{directory}/{}", entry.file_name().to_string_lossy()))
                .filter(|f| !listed.contains(f))
                .collect();
            unlisted.sort();
            for file in unlisted {
                problems.push(problem(
                    &format!("/products/{p}/events/{e}/schemas"),
                    format!("{file} is not listed: every version must be"),
                ));
            }
        }
        for broken in check_versions(product.compatibility, &versions) {
            problems.push(problem(
                &format!("/products/{p}/events/{e}/schemas/{}", broken.version - 1),
                format!(
                    "{} {broken}: a breaking change needs a new major version (v{}/)",
                    event.event_type,
                    product.version + 1
                ),
            ));
        }
        if let Some(latest) = versions.last()
            && let mesh::contract::AvroSchema::Record(record) = &latest.schema
        {
            let protected: Vec<String> = protected_fields(&latest.schema).into_iter().map(|f| f.name).collect();
            for field in &record.fields {
                latest_fields.push(LatestField {
                    name: field.name.clone(),
                    event_type: event.event_type.clone(),
                    file: latest.origin.clone(),
                    at: format!("/products/{p}/events/{e}/schemas/{}", versions.len() - 1),
                    protected: protected.contains(&field.name),
                });
            }
        }
    }
    check_pii(product, p, &latest_fields, problem, problems);
}

/// A field of an event type's latest schema version.
struct LatestField {
    name: String,
    event_type: String,
    file: String,
    /// The pointer of the schema version in the descriptor.
    at: String,
    protected: bool,
}

/// Every `pii` field exists and travels protected wherever it appears; every
/// protected field is listed in `pii`; PII is granted only to subscribers.
fn check_pii(
    product: &Product,
    p: usize,
    latest: &[LatestField],
    problem: &dyn Fn(&str, String) -> Problem,
    problems: &mut Vec<Problem>,
) {
    for (i, field) in product.pii.iter().enumerate() {
        let carriers: Vec<&LatestField> = latest.iter().filter(|f| &f.name == field).collect();
        if carriers.is_empty() {
            problems.push(problem(
                &format!("/products/{p}/pii/{i}"),
                format!("no event of {} has a field `{field}`", product.name),
            ));
        }
        for clear in carriers.iter().filter(|f| !f.protected) {
            problems.push(problem(
                &format!("/products/{p}/pii/{i}"),
                format!(
                    "`{field}` is PII but {} ({}) carries it in clear: its type must be {PROTECTED_TYPE} \
                     (a string becoming a record breaks every reader: a new major version, v{}/)",
                    clear.event_type,
                    clear.file,
                    product.version + 1
                ),
            ));
        }
    }
    for unlisted in latest.iter().filter(|f| f.protected && !product.pii.contains(&f.name)) {
        problems.push(problem(
            &unlisted.at,
            format!(
                "{} protects `{}`, which {} does not list in pii: list it, so the catalog and the grants know",
                unlisted.event_type, unlisted.name, product.name
            ),
        ));
    }
    for (i, reader) in product.access.pii_readers.iter().enumerate() {
        let pointer = format!("/products/{p}/access/pii_readers/{i}");
        if !product.access.subscribers.contains(reader) {
            problems.push(problem(
                &pointer,
                format!(
                    "{reader} is granted the PII of {} v{} but is not a subscriber: only a subscriber can read it \
                     (add `{reader}` to access.subscribers, or remove it here)",
                    product.name, product.version
                ),
            ));
        }
        if product.pii.is_empty() {
            problems.push(problem(&pointer, format!("{} has no pii fields to grant", product.name)));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn repository() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// A copy of the repository's descriptors and schemas to break.
    fn copy() -> PathBuf {
        let target = std::env::temp_dir().join(format!("mesh-descriptor-{}", uuid::Uuid::now_v7()));
        let source = repository();
        for domain in ["orders", "customers", "analytics"] {
            std::fs::create_dir_all(target.join("domains").join(domain)).unwrap();
            std::fs::copy(
                source.join(format!("domains/{domain}/domain.yaml")),
                target.join(format!("domains/{domain}/domain.yaml")),
            )
            .unwrap();
        }
        for handler in ["orders-saga", "customers-credit", "analytics-sales", "orders-api", "customers-api"] {
            std::fs::create_dir_all(target.join("functions").join(handler)).unwrap();
        }
        copy_dir(&source.join("schemas"), &target.join("schemas"));
        target
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }

    fn edit(root: &Path, file: &str, from: &str, to: &str) {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(path, text.replacen(from, to, 1)).unwrap();
    }

    fn problems(root: &Path) -> Vec<String> {
        let found = load_mesh(root).unwrap_err().iter().map(ToString::to_string).collect();
        std::fs::remove_dir_all(root).unwrap();
        found
    }

    #[test]
    fn the_repository_mesh_is_valid() {
        let mesh = load_mesh(&repository()).unwrap_or_else(|p| panic!("{p:#?}"));

        assert_eq!(mesh.domains.len(), 3);
        assert_eq!(mesh.schemas.len(), 11);
        assert_eq!(mesh.domain("orders").unwrap().products[0].events.len(), 5);
    }

    #[test]
    fn refuses_an_ungranted_subscription_naming_both_sides() {
        let root = copy();
        edit(&root, "domains/orders/domain.yaml", "subscribers: [customers, analytics]", "subscribers: [customers]");
        edit(&root, "domains/orders/domain.yaml", "pii_readers: [customers, analytics]", "pii_readers: [customers]");

        let found = problems(&root);

        assert_eq!(
            found,
            [
                "domains/analytics/domain.yaml:13:14: consumes[0].product: analytics may not subscribe to orders/order-events v2: \
              its owner (orders-team) grants only customers; ask them to add `analytics` to access.subscribers"
            ]
        );
    }

    #[test]
    fn refuses_a_pii_field_carried_in_clear_and_a_protected_field_not_listed() {
        let root = copy();
        edit(&root, "domains/orders/domain.yaml", "pii: [customer_id]", "pii: [customer_id, channel]");
        edit(&root, "domains/customers/domain.yaml", "pii: [customer_id, name]", "pii: [customer_id]");

        let found = problems(&root);

        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("products[0].events[0].schemas[0]: CustomerRegistered protects `name`, which customer-credit does not list in pii"), "{found:#?}");
        assert!(found[1].contains("products[0].pii[1]: `channel` is PII but OrderPlaced (schemas/orders/order-events/v2/OrderPlaced/2.avsc) carries it in clear: its type must be mesh.pii.Protected"), "{found:#?}");
    }

    #[test]
    fn refuses_sequence_order_on_a_subscription_that_filters_event_types() {
        let root = copy();
        edit(&root, "domains/customers/domain.yaml", "order: strict", "order: sequence");

        let found = problems(&root);

        assert_eq!(
            found,
            ["domains/customers/domain.yaml:47:12: consumes[0].order: `order: sequence` needs every event type of \
                 orders/order-events v2 (a gap left by a filtered type would hold the next event back forever), but \
                 OrderApproved, OrderRejected are not consumed: add them or use `order: strict`"]
        );
        let mesh = load_mesh(&repository()).unwrap();
        assert_eq!(mesh.strict_subscribers("orders", "order-events"), ["customers"]);
        assert!(mesh.strict_subscribers("customers", "customer-credit").is_empty());
    }

    #[test]
    fn refuses_what_the_platform_cannot_deploy_naming_why() {
        let root = copy();
        edit(&root, "domains/orders/domain.yaml", "handler: orders-api", "handler: orders-gone");
        // A second product: the one relay of a domain publishes to one product's ports.
        let orders = std::fs::read_to_string(root.join("domains/orders/domain.yaml")).unwrap();
        let start = orders.find("  - name: order-events").unwrap();
        let end = orders.find("\nconsumes:").unwrap();
        let second = orders[start..end].replacen("name: order-events", "name: order-audit", 1);
        edit(&root, "domains/orders/domain.yaml", "\nconsumes:", &format!("{second}\nconsumes:"));

        let found = problems(&root);

        assert!(found.iter().any(|p| p.ends_with(
            "products[1]: orders declares 2 products; the platform deploys one outbox relay per domain, which publishes to one product's ports"
        )), "{found:#?}");
        assert!(
            found.iter().any(
                |p| p.ends_with("api.handler: expected a function crate, but functions/orders-gone does not exist")
            ),
            "{found:#?}"
        );
    }

    #[test]
    fn refuses_a_deadline_nobody_can_start_or_receive() {
        let root = copy();
        let saga = "      starts_with: OrderPlaced\n      waits_for: customers/customer-credit\n";
        let broken = "      starts_with: OrderShipped\n      waits_for: customers/customer-gone\n";
        edit(&root, "domains/orders/domain.yaml", saga, broken);

        let found = problems(&root);

        for expected in [
            "saga.deadlines[0].starts_with: orders publishes no `OrderShipped`: a deadline starts with an event of the domain's own products",
            "saga.deadlines[0].waits_for: orders-saga does not consume customers/customer-gone: the deadline is delivered to the queue of the subscription that ends the step",
        ] {
            assert!(found.iter().any(|p| p.ends_with(expected)), "{expected}\nnot in {found:#?}");
        }
    }

    #[test]
    fn refuses_a_deadline_for_a_fifo_queue() {
        let root = copy();
        edit(
            &root,
            "domains/orders/domain.yaml",
            "    handler: orders-saga\n",
            "    handler: orders-saga\n    order: strict\n",
        );

        let found = problems(&root);

        assert!(
            found.iter().any(|p| p.ends_with(
                "saga.deadlines[0].waits_for: orders-saga takes customers/customer-credit in strict order (a FIFO queue), \
                 which EventBridge Scheduler cannot deliver a deadline to"
            )),
            "{found:#?}"
        );
    }

    #[test]
    fn refuses_a_route_api_gateway_would_not_take() {
        let root = copy();
        edit(
            &root,
            "domains/orders/domain.yaml",
            "    - route: POST /orders\n",
            "    - route: FETCH /orders\n      auth: jwt\n      scopes: [orders/write]\n    - route: POST /orders\n",
        );

        assert_eq!(
            problems(&root),
            ["domains/orders/domain.yaml:60:14: api.routes[0].route: expected text matching \
              ^(GET|POST|PUT|PATCH|DELETE) (/[a-z0-9-]+|/\\{[a-z_]+\\})+$, found \"FETCH /orders\""]
        );
    }

    #[test]
    fn refuses_a_route_that_says_nothing_of_who_may_call_it() {
        let root = copy();
        // The old shape, a bare route, and a route without `auth`.
        edit(
            &root,
            "domains/orders/domain.yaml",
            "    - route: POST /orders\n      auth: jwt\n",
            "    - POST /orders\n    - route: POST /orders/x\n",
        );

        let found = problems(&root);

        assert_eq!(
            found,
            [
                "domains/orders/domain.yaml:60:7: api.routes[0]: expected object, found \"POST /orders\": \
                 {route: METHOD /path, auth: jwt, scopes: [<domain>/<name>]} for people and front ends (an OAuth 2.0 \
                 access token of the mesh's issuer with one of the scopes), or {route: METHOD /path, auth: iam} for \
                 services (SigV4, an IAM principal allowed execute-api:Invoke)",
                "domains/orders/domain.yaml:61:12: api.routes[1]: missing the required field auth: who may call the \
                 route: jwt (an access token with one of the route's scopes: people, front ends) or iam (a SigV4-signed \
                 request of an IAM principal allowed execute-api:Invoke: services)",
            ]
        );
    }

    #[test]
    fn refuses_scopes_a_route_or_client_cannot_have() {
        let root = copy();
        let orders = "domains/orders/domain.yaml";
        // A jwt route without a scope, an iam route with one, another domain's scope.
        edit(&root, orders, "      auth: jwt\n      scopes: [orders/read]\n", "      auth: jwt\n");
        edit(
            &root,
            orders,
            "      auth: jwt\n      scopes: [orders/write]\n",
            "      auth: iam\n      scopes: [orders/write]\n",
        );
        edit(
            &root,
            orders,
            "      scopes: [orders/write, orders/read]",
            "      scopes: [orders/write, orders/read, customers/write, orders/delete]",
        );

        let found = problems(&root);

        assert_eq!(
            found,
            [
                "domains/orders/domain.yaml:58:30: api.clients[0].scopes[1]: no route of this API asks for \
                 `orders/read` (the routes ask for orders/write)",
                "domains/orders/domain.yaml:58:43: api.clients[0].scopes[2]: `customers/write` is not a scope of this \
                 domain: the orders API grants only `orders/<name>`",
                "domains/orders/domain.yaml:58:60: api.clients[0].scopes[3]: no route of this API asks for \
                 `orders/delete` (the routes ask for orders/write)",
                "domains/orders/domain.yaml:62:7: api.routes[0].scopes: an iam route takes no scopes: the caller's IAM \
                 policy (execute-api:Invoke on the route) says who may call it",
                "domains/orders/domain.yaml:64:13: api.routes[1].auth: a jwt route needs at least one scope \
                 (`orders/<name>`): a token without one is refused",
            ]
        );
    }

    #[test]
    fn refuses_jwt_routes_that_accept_no_client() {
        let root = copy();
        edit(
            &root,
            "domains/customers/domain.yaml",
            "  clients:\n    - name: reference-client\n      scopes: [customers/write, customers/read]\n",
            "",
        );

        let found = problems(&root);

        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].ends_with(
                "api.routes: jwt routes need the clients whose tokens they accept: list them under api.clients (name and scopes)"
            ),
            "{found:#?}"
        );
    }

    #[test]
    fn reports_every_problem_at_once_with_its_line() {
        let root = copy();
        edit(&root, "domains/orders/domain.yaml", "compatibility: FULL_TRANSITIVE", "compatibility: SIDEWAYS");
        edit(&root, "domains/orders/domain.yaml", "retention_hours: 24", "retention_hours: 2");
        edit(
            &root,
            "domains/customers/domain.yaml",
            "pii: [customer_id, name]",
            "pii: [customer_id, name]\n    owner: someone",
        );
        edit(&root, "domains/analytics/domain.yaml", "handler: analytics-sales", "handler: analytics-gone");

        let found = problems(&root);

        assert_eq!(
            found,
            [
                "domains/analytics/domain.yaml:16:14: consumes[0].handler: expected a function crate, but functions/analytics-gone does not exist",
                "domains/customers/domain.yaml:13:9: products[0]: unknown field `owner`",
                "domains/orders/domain.yaml:19:20: products[0].compatibility: expected one of \"NONE\", \"BACKWARD\", \"BACKWARD_TRANSITIVE\", \"FORWARD\", \"FORWARD_TRANSITIVE\", \"FULL\", \"FULL_TRANSITIVE\", found \"SIDEWAYS\"",
                "domains/orders/domain.yaml:37:60: products[0].ports.kinesis.retention_hours: expected at least 24, found 2",
            ]
        );
    }

    #[test]
    fn refuses_a_breaking_version_without_a_new_major_naming_the_field_and_rule() {
        let root = copy();
        let v3 = root.join("schemas/orders/order-events/v2/OrderPlaced/3.avsc");
        let v2 = std::fs::read_to_string(root.join("schemas/orders/order-events/v2/OrderPlaced/2.avsc")).unwrap();
        std::fs::write(&v3, v2.replace(r#""type": "long""#, r#""type": "string""#)).unwrap();
        edit(
            &root,
            "domains/orders/domain.yaml",
            "          - orders/order-events/v2/OrderPlaced/2.avsc",
            "          - orders/order-events/v2/OrderPlaced/2.avsc\n          - orders/order-events/v2/OrderPlaced/3.avsc",
        );

        let found = problems(&root);

        assert!(!found.is_empty());
        assert!(
            found.iter().all(|p| p.contains("OrderPlaced v3 is not FULL_TRANSITIVE compatible with")
                && p.contains("OrderPlaced.amount_cents: type changed")
                && p.contains("a breaking change needs a new major version (v3/)")),
            "{found:#?}"
        );
    }

    #[test]
    fn refuses_a_schema_file_that_is_not_listed() {
        let root = copy();
        std::fs::copy(
            root.join("schemas/orders/order-events/v2/OrderApproved/1.avsc"),
            root.join("schemas/orders/order-events/v2/OrderApproved/2.avsc"),
        )
        .unwrap();

        let found = problems(&root);

        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("schemas/orders/order-events/v2/OrderApproved/2.avsc is not listed"), "{found:#?}");
    }
}
