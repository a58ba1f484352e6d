//! The compatibility gate: can a reader schema read data written with a
//! writer schema (Avro's resolution rules), and does a new version keep the
//! promise of the product's mode. Our own checker rather than the crate's,
//! so that every break names the field path and the rule it breaks.

use std::fmt;
use std::str::FromStr;

use apache_avro::Schema;
use apache_avro::schema::{Name, RecordSchema};

use super::schema::SchemaVersion;

/// The product's promise to its consumers, with the Confluent names; the
/// Glue Schema Registry calls the transitive modes `*_ALL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    /// No check at all.
    None,
    /// The new version reads data written with the previous one (consumers upgrade first).
    Backward,
    /// ... with every earlier one.
    BackwardTransitive,
    /// The previous version reads data written with the new one (producers upgrade first).
    Forward,
    /// ... every earlier version does.
    ForwardTransitive,
    /// Both, against the previous version.
    Full,
    /// Both, against every earlier version.
    FullTransitive,
}

impl Compatibility {
    pub const ALL: [Compatibility; 7] = [
        Self::None,
        Self::Backward,
        Self::BackwardTransitive,
        Self::Forward,
        Self::ForwardTransitive,
        Self::Full,
        Self::FullTransitive,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// The Glue Schema Registry's name for the same mode.
    pub fn glue_name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_ALL",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_ALL",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_ALL",
        }
    }

    fn transitive(self) -> bool {
        matches!(self, Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive)
    }

    fn directions(self) -> &'static [Direction] {
        match self {
            Self::None => &[],
            Self::Backward | Self::BackwardTransitive => &[Direction::NewReadsOld],
            Self::Forward | Self::ForwardTransitive => &[Direction::OldReadsNew],
            Self::Full | Self::FullTransitive => &[Direction::NewReadsOld, Direction::OldReadsNew],
        }
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown compatibility mode `{0}`: expected one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
)]
pub struct UnknownMode(String);

impl FromStr for Compatibility {
    type Err = UnknownMode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|mode| mode.name() == text).ok_or_else(|| UnknownMode(text.to_string()))
    }
}

/// Which version reads which version's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The new version reads data written with the earlier one (backward).
    NewReadsOld,
    /// The earlier version reads data written with the new one (forward).
    OldReadsNew,
}

/// One reason a reader cannot read a writer's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breakage {
    /// The field path, from the record name: `OrderPlaced.channel`.
    pub path: String,
    pub rule: String,
}

impl fmt::Display for Breakage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.rule)
    }
}

/// A new version that breaks the mode's promise against an earlier one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incompatibility {
    pub mode: Compatibility,
    pub version: u32,
    pub against: u32,
    pub direction: Direction,
    pub breakages: Vec<Breakage>,
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { mode, version, against, direction, breakages } = self;
        let (reader, writer) = match direction {
            Direction::NewReadsOld => (version, against),
            Direction::OldReadsNew => (against, version),
        };
        write!(
            f,
            "v{version} is not {mode} compatible with v{against}: a reader at v{reader} cannot read data written with v{writer}: "
        )?;
        let reasons: Vec<String> = breakages.iter().map(ToString::to_string).collect();
        f.write_str(&reasons.join("; "))
    }
}

/// Checks every version from the second on against the earlier ones the
/// mode names (the previous one, or all of them when transitive), in both
/// directions the mode requires. Versions are taken in ascending order.
pub fn check_versions(mode: Compatibility, versions: &[SchemaVersion]) -> Vec<Incompatibility> {
    let mut sorted: Vec<&SchemaVersion> = versions.iter().collect();
    sorted.sort_by_key(|v| v.version);
    let mut found = Vec::new();
    for (index, new) in sorted.iter().enumerate().skip(1) {
        let earlier = if mode.transitive() { &sorted[..index] } else { &sorted[index - 1..index] };
        for old in earlier.iter().rev() {
            for &direction in mode.directions() {
                let (writer, reader) = match direction {
                    Direction::NewReadsOld => (&old.schema, &new.schema),
                    Direction::OldReadsNew => (&new.schema, &old.schema),
                };
                let breakages = can_read(writer, reader);
                if !breakages.is_empty() {
                    found.push(Incompatibility {
                        mode,
                        version: new.version,
                        against: old.version,
                        direction,
                        breakages,
                    });
                }
            }
        }
    }
    found
}

/// Every reason `reader` cannot read data written with `writer`, following
/// the Avro specification's schema resolution rules. Empty when it can.
pub fn can_read(writer: &Schema, reader: &Schema) -> Vec<Breakage> {
    let path = reader.name().or_else(|| writer.name()).map(|n| n.name().to_string()).unwrap_or_else(|| "$".into());
    let mut breakages = Vec::new();
    check(writer, reader, &path, &mut breakages);
    breakages
}

fn broken(found: &mut Vec<Breakage>, path: &str, rule: String) {
    found.push(Breakage { path: path.to_string(), rule });
}

fn check(writer: &Schema, reader: &Schema, path: &str, found: &mut Vec<Breakage>) {
    match (writer, reader) {
        (Schema::Union(w), _) => {
            // Every branch the writer may have used must be readable.
            for branch in w.variants() {
                let mut attempt = Vec::new();
                check(branch, reader, path, &mut attempt);
                found.extend(attempt);
            }
        }
        (_, Schema::Union(r)) => {
            let readable = r.variants().iter().any(|branch| {
                let mut attempt = Vec::new();
                check(writer, branch, path, &mut attempt);
                attempt.is_empty()
            });
            if !readable {
                broken(
                    found,
                    path,
                    format!(
                        "no branch of the reader's union {} reads the writer's {}",
                        describe(reader),
                        describe(writer)
                    ),
                );
            }
        }
        (Schema::Record(w), Schema::Record(r)) => records(w, r, path, found),
        (Schema::Enum(w), Schema::Enum(r)) => {
            names_match(&w.name, &r.name, r.aliases.as_deref(), path, found);
            if r.default.is_none() {
                for symbol in w.symbols.iter().filter(|s| !r.symbols.contains(s)) {
                    broken(
                        found,
                        path,
                        format!(
                            "enum symbol `{symbol}` was written but the reader does not know it and has no default symbol"
                        ),
                    );
                }
            }
        }
        (Schema::Fixed(w), Schema::Fixed(r)) => {
            names_match(&w.name, &r.name, r.aliases.as_deref(), path, found);
            if w.size != r.size {
                broken(found, path, format!("fixed size changed from {} to {}", w.size, r.size));
            }
        }
        (Schema::Array(w), Schema::Array(r)) => check(&w.items, &r.items, &format!("{path}[]"), found),
        (Schema::Map(w), Schema::Map(r)) => check(&w.types, &r.types, &format!("{path}{{}}"), found),
        _ => primitives(writer, reader, path, found),
    }
}

fn records(w: &RecordSchema, r: &RecordSchema, path: &str, found: &mut Vec<Breakage>) {
    names_match(&w.name, &r.name, r.aliases.as_deref(), path, found);
    for field in &r.fields {
        let field_path = format!("{path}.{}", field.name);
        let written = w.fields.iter().find(|wf| wf.name == field.name || field.aliases.contains(&wf.name));
        match written {
            Some(wf) => check(&wf.schema, &field.schema, &field_path, found),
            None if field.default.is_some() => {}
            None => broken(
                found,
                &field_path,
                "the reader's field has no default and the writer's data does not have it (add a default, or keep the field)".into(),
            ),
        }
    }
}

fn names_match(
    w: &Name,
    r: &Name,
    reader_aliases: Option<&[apache_avro::schema::Alias]>,
    path: &str,
    found: &mut Vec<Breakage>,
) {
    let aliased = reader_aliases.unwrap_or_default().iter().any(|alias| alias.name() == w.name());
    if w.name() != r.name() && !aliased {
        broken(found, path, format!("named type `{}` was renamed to `{}` without an alias", w.name(), r.name()));
    }
}

/// The physical type underneath a logical one, and the logical name if any.
fn physical(schema: &Schema) -> (&'static str, Option<&'static str>) {
    match schema {
        Schema::Null => ("null", None),
        Schema::Boolean => ("boolean", None),
        Schema::Int => ("int", None),
        Schema::Long => ("long", None),
        Schema::Float => ("float", None),
        Schema::Double => ("double", None),
        Schema::Bytes => ("bytes", None),
        Schema::String => ("string", None),
        Schema::Date => ("int", Some("date")),
        Schema::TimeMillis => ("int", Some("time-millis")),
        Schema::TimeMicros => ("long", Some("time-micros")),
        Schema::TimestampMillis => ("long", Some("timestamp-millis")),
        Schema::TimestampMicros => ("long", Some("timestamp-micros")),
        Schema::TimestampNanos => ("long", Some("timestamp-nanos")),
        Schema::LocalTimestampMillis => ("long", Some("local-timestamp-millis")),
        Schema::LocalTimestampMicros => ("long", Some("local-timestamp-micros")),
        Schema::LocalTimestampNanos => ("long", Some("local-timestamp-nanos")),
        Schema::Uuid(apache_avro::schema::UuidSchema::String) => ("string", Some("uuid")),
        Schema::Uuid(_) => ("fixed", Some("uuid")),
        Schema::Decimal(_) | Schema::BigDecimal => ("bytes", Some("decimal")),
        Schema::Duration(_) => ("fixed", Some("duration")),
        Schema::Array(_) => ("array", None),
        Schema::Map(_) => ("map", None),
        Schema::Union(_) => ("union", None),
        Schema::Record(_) => ("record", None),
        Schema::Enum(_) => ("enum", None),
        Schema::Fixed(_) => ("fixed", None),
        Schema::Ref { .. } => ("named reference", None),
    }
}

fn describe(schema: &Schema) -> String {
    match (physical(schema), schema.name()) {
        (_, Some(name)) => format!("`{}`", name.name()),
        ((kind, Some(logical)), None) => format!("{kind} ({logical})"),
        ((kind, None), None) => kind.to_string(),
    }
}

/// Avro's promotions: what the reader may read in place of the written type.
fn promotes(written: &str, read: &str) -> bool {
    matches!(
        (written, read),
        ("int", "long" | "float" | "double")
            | ("long", "float" | "double")
            | ("float", "double")
            | ("string", "bytes")
            | ("bytes", "string")
    )
}

fn primitives(writer: &Schema, reader: &Schema, path: &str, found: &mut Vec<Breakage>) {
    let ((w, w_logical), (r, r_logical)) = (physical(writer), physical(reader));
    if let (Schema::Ref { name: wn }, Schema::Ref { name: rn }) = (writer, reader) {
        if wn.name() != rn.name() {
            broken(found, path, format!("named type `{}` was replaced by `{}`", wn.name(), rn.name()));
        }
        return;
    }
    if w == r || promotes(w, r) {
        if let (Some(wl), Some(rl)) = (w_logical, r_logical)
            && wl != rl
        {
            broken(found, path, format!("logical type changed from {wl} to {rl}"));
        }
        if let (Schema::Decimal(wd), Schema::Decimal(rd)) = (writer, reader)
            && (wd.precision, wd.scale) != (rd.precision, rd.scale)
        {
            broken(
                found,
                path,
                format!("decimal({}, {}) became decimal({}, {})", wd.precision, wd.scale, rd.precision, rd.scale),
            );
        }
        return;
    }
    broken(
        found,
        path,
        format!(
            "type changed from {} to {}: a reader of {} cannot read {}",
            describe(writer),
            describe(reader),
            describe(reader),
            describe(writer)
        ),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Compatibility::*;
    use super::*;

    fn record(fields: &str) -> String {
        format!(r#"{{"type": "record", "name": "OrderPlaced", "fields": [{fields}]}}"#)
    }

    /// Compatible: nothing to say.
    const OK: Option<&str> = Option::None;
    const ID: &str = r#"{"name": "id", "type": "string"}"#;
    const QTY_INT: &str = r#"{"name": "qty", "type": "int"}"#;
    const QTY_LONG: &str = r#"{"name": "qty", "type": "long"}"#;
    const QTY_STRING_DEFAULT: &str = r#"{"name": "qty", "type": "string", "default": "0"}"#;
    const CHANNEL_OPTIONAL: &str = r#"{"name": "channel", "type": ["null", "string"], "default": null}"#;
    const CHANNEL_REQUIRED: &str = r#"{"name": "channel", "type": "string"}"#;
    const STATUS_AB: &str = r#"{"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["A", "B"]}}"#;
    const STATUS_ABC: &str =
        r#"{"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["A", "B", "C"]}}"#;
    const STATUS_ABC_DEFAULT: &str =
        r#"{"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["A", "B", "C"], "default": "A"}}"#;

    fn versions(schemas: &[String]) -> Vec<SchemaVersion> {
        schemas.iter().zip(1..).map(|(text, v)| SchemaVersion::parse(v, format!("v{v}"), text).unwrap()).collect()
    }

    /// One row: the versions in order, the mode, and what must be said about
    /// them (`None` = compatible, else a part of the first incompatibility).
    struct Row {
        case: &'static str,
        versions: Vec<String>,
        expect: Vec<(Compatibility, Option<&'static str>)>,
    }

    fn rows() -> Vec<Row> {
        let pair = |a: &[&str], b: &[&str]| vec![record(&a.join(",")), record(&b.join(","))];
        vec![
            Row {
                case: "adding an optional field with a default",
                versions: pair(&[ID], &[ID, CHANNEL_OPTIONAL]),
                expect: vec![(Backward, OK), (Forward, OK), (Full, OK), (FullTransitive, OK), (None, OK)],
            },
            Row {
                case: "adding a field without a default",
                versions: pair(&[ID], &[ID, CHANNEL_REQUIRED]),
                expect: vec![
                    (
                        Backward,
                        Some(
                            "v2 is not BACKWARD compatible with v1: a reader at v2 cannot read data written with v1: OrderPlaced.channel: the reader's field has no default",
                        ),
                    ),
                    (Forward, OK),
                    (Full, Some("OrderPlaced.channel")),
                    (None, OK),
                ],
            },
            Row {
                case: "removing a field that has no default",
                versions: pair(&[ID, CHANNEL_REQUIRED], &[ID]),
                expect: vec![
                    (Backward, OK),
                    (
                        Forward,
                        Some(
                            "a reader at v1 cannot read data written with v2: OrderPlaced.channel: the reader's field has no default",
                        ),
                    ),
                    (FullTransitive, Some("OrderPlaced.channel")),
                ],
            },
            Row {
                case: "promoting int to long",
                versions: pair(&[ID, QTY_INT], &[ID, QTY_LONG]),
                expect: vec![
                    (Backward, OK),
                    (Forward, Some("OrderPlaced.qty: type changed from long to int")),
                    (Full, Some("OrderPlaced.qty")),
                ],
            },
            Row {
                case: "changing a field's type",
                versions: pair(&[ID, QTY_LONG], &[ID, r#"{"name": "qty", "type": "string"}"#]),
                expect: vec![
                    (Backward, Some("OrderPlaced.qty: type changed from long to string")),
                    (Forward, Some("OrderPlaced.qty: type changed from string to long")),
                    (None, OK),
                ],
            },
            Row {
                case: "adding an enum symbol, no default",
                versions: pair(&[STATUS_AB], &[STATUS_ABC]),
                expect: vec![
                    (Backward, OK),
                    (Forward, Some("OrderPlaced.status: enum symbol `C` was written but the reader does not know it")),
                ],
            },
            Row {
                case: "adding an enum symbol to an enum with a default",
                versions: pair(
                    &[
                        r#"{"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["A", "B"], "default": "A"}}"#,
                    ],
                    &[STATUS_ABC_DEFAULT],
                ),
                expect: vec![(Full, OK)],
            },
            Row {
                case: "renaming a field with an alias",
                versions: pair(&[ID, QTY_LONG], &[ID, r#"{"name": "quantity", "type": "long", "aliases": ["qty"]}"#]),
                expect: vec![(Backward, OK), (Forward, Some("OrderPlaced.qty: the reader's field has no default"))],
            },
            Row {
                case: "renaming the record",
                versions: vec![
                    record(ID),
                    r#"{"type": "record", "name": "OrderCreated", "fields": [{"name": "id", "type": "string"}]}"#
                        .into(),
                ],
                expect: vec![
                    (Backward, Some("named type `OrderPlaced` was renamed to `OrderCreated` without an alias")),
                    (None, OK),
                ],
            },
            Row {
                case: "making a required field nullable",
                versions: pair(&[ID, CHANNEL_REQUIRED], &[ID, r#"{"name": "channel", "type": ["null", "string"]}"#]),
                expect: vec![(Backward, OK), (Forward, Some("OrderPlaced.channel: type changed from null to string"))],
            },
            // Transitive: v2 drops `qty` (an int), v3 brings it back as a
            // string with a default. Each step is fine, but v3 cannot read v1.
            Row {
                case: "v3 compatible with v2 but not with v1",
                versions: vec![
                    record(&[ID, QTY_INT].join(",")),
                    record(ID),
                    record(&[ID, QTY_STRING_DEFAULT].join(",")),
                ],
                expect: vec![
                    (Backward, OK),
                    (
                        BackwardTransitive,
                        Some(
                            "v3 is not BACKWARD_TRANSITIVE compatible with v1: a reader at v3 cannot read data written with v1: OrderPlaced.qty: type changed from int to string",
                        ),
                    ),
                    (Full, Some("v2 is not FULL compatible with v1")),
                    (None, OK),
                ],
            },
            Row {
                case: "v3 readable by v2 but not by v1",
                versions: vec![
                    record(&[ID, CHANNEL_OPTIONAL].join(",")),
                    record(&[ID, CHANNEL_OPTIONAL, QTY_STRING_DEFAULT].join(",")),
                    record(
                        &[
                            ID,
                            r#"{"name": "qty", "type": "string", "default": "0"}"#,
                            r#"{"name": "channel", "type": ["null", "string"], "default": null}"#,
                        ]
                        .join(","),
                    ),
                ],
                expect: vec![(ForwardTransitive, OK), (FullTransitive, OK)],
            },
            Row {
                case: "forward-transitive: v3 removes a field v1 requires",
                versions: vec![
                    record(&[ID, CHANNEL_REQUIRED].join(",")),
                    record(&[ID, r#"{"name": "channel", "type": "string", "default": "web"}"#].join(",")),
                    record(ID),
                ],
                expect: vec![
                    (Forward, OK),
                    (
                        ForwardTransitive,
                        Some(
                            "v3 is not FORWARD_TRANSITIVE compatible with v1: a reader at v1 cannot read data written with v3: OrderPlaced.channel",
                        ),
                    ),
                    (FullTransitive, Some("with v1")),
                ],
            },
        ]
    }

    #[test]
    fn each_mode_accepts_and_refuses_what_the_registries_do() {
        for row in rows() {
            let versions = versions(&row.versions);
            for (mode, expected) in &row.expect {
                let found = check_versions(*mode, &versions);
                match expected {
                    Option::None => assert!(
                        found.is_empty(),
                        "{}: {mode} should pass, got {:?}",
                        row.case,
                        found.iter().map(ToString::to_string).collect::<Vec<_>>()
                    ),
                    Some(part) => {
                        let said: Vec<String> = found.iter().map(ToString::to_string).collect();
                        assert!(
                            said.iter().any(|s| s.contains(part)),
                            "{}: {mode} should say {part:?}, said {said:?}",
                            row.case
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_transitive_mode_names_the_older_version_it_breaks() {
        let versions =
            versions(&[record(&[ID, QTY_INT].join(",")), record(ID), record(&[ID, QTY_STRING_DEFAULT].join(","))]);

        let found = check_versions(BackwardTransitive, &versions);

        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].version, found[0].against, found[0].direction), (3, 1, Direction::NewReadsOld));
        assert_eq!(
            found[0].breakages,
            [Breakage {
                path: "OrderPlaced.qty".into(),
                rule: "type changed from int to string: a reader of string cannot read int".into()
            }]
        );
    }

    #[test]
    fn modes_read_and_print_with_registry_names() {
        for mode in Compatibility::ALL {
            assert_eq!(mode.name().parse::<Compatibility>().unwrap(), mode);
        }
        assert_eq!(FullTransitive.glue_name(), "FULL_ALL");
        assert_eq!(BackwardTransitive.glue_name(), "BACKWARD_ALL");
        assert!("SIDEWAYS".parse::<Compatibility>().unwrap_err().to_string().contains("FULL_TRANSITIVE"));
    }

    #[test]
    fn the_repository_schemas_keep_full_transitive_compatibility() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let mut checked = 0;
        for domain in std::fs::read_dir(&root).unwrap().flatten().filter(|e| e.path().is_dir()) {
            for product in std::fs::read_dir(domain.path()).unwrap().flatten() {
                for major in std::fs::read_dir(product.path()).unwrap().flatten() {
                    for event in std::fs::read_dir(major.path()).unwrap().flatten() {
                        let mut files: Vec<_> =
                            std::fs::read_dir(event.path()).unwrap().flatten().map(|f| f.path()).collect();
                        files.sort();
                        let versions: Vec<SchemaVersion> = files
                            .iter()
                            .zip(1..)
                            .map(|(f, v)| {
                                SchemaVersion::parse(v, f.display().to_string(), &std::fs::read_to_string(f).unwrap())
                                    .unwrap()
                            })
                            .collect();
                        assert!(check_versions(FullTransitive, &versions).is_empty(), "{}", event.path().display());
                        checked += 1;
                    }
                }
            }
        }
        // Both majors are kept: v1 (clear ids) and v2 (protected ids).
        assert_eq!(checked, 19, "9 event types in v1 of the orders and customers products, 10 in v2");
    }
}
