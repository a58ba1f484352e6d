//! Parameters several stacks declare the same way.

use serde_norway::Value;

use super::cfn::{Template, equals, map, r, s, strings};

const PREFIX_PATTERN: &str = "^[a-z][a-z0-9-]{0,19}$";
/// A standard or FIFO (`.fifo`) topic.
const TOPIC_ARN_PATTERN: &str = "^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,251}(\\.fifo)?$";

pub fn prefix(t: &mut Template) {
    t.parameter(
        "Prefix",
        map([
            ("Type", s("String")),
            ("Default", s("mesh")),
            ("Description", s("Name prefix shared by every stack of one mesh deployment.")),
            ("AllowedPattern", s(PREFIX_PATTERN)),
            (
                "ConstraintDescription",
                s("lowercase letters, digits and dashes, starting with a letter, at most 20 characters."),
            ),
        ]),
    );
}

/// Where the function zips are and what they were built for.
pub fn code(t: &mut Template) {
    t.parameter(
        "ArtifactBucket",
        map([
            ("Type", s("String")),
            ("Description", s("S3 bucket holding the function zips (make build, then make deploy uploads them).")),
            ("AllowedPattern", s("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")),
            ("ConstraintDescription", s("a valid S3 bucket name.")),
        ]),
    );
    t.parameter(
        "ArtifactPrefix",
        map([
            ("Type", s("String")),
            ("Default", s("")),
            (
                "Description",
                s("Key prefix of the zips in ArtifactBucket, may be empty; each zip is <ArtifactPrefix><crate>.zip."),
            ),
            ("AllowedPattern", s("^[A-Za-z0-9!_.*'()/-]*$")),
            ("ConstraintDescription", s("S3 key characters only (letters, digits, ! _ . * ' ( ) / -).")),
        ]),
    );
    t.parameter(
        "Architecture",
        map([
            ("Type", s("String")),
            ("Default", s("arm64")),
            ("AllowedValues", strings(["x86_64", "arm64"])),
            ("Description", s("Instruction set the zips were built for.")),
        ]),
    );
    t.parameter(
        "LogLevel",
        map([
            ("Type", s("String")),
            ("Default", s("info")),
            ("Description", s("Log filter passed to every function as RUST_LOG (e.g. info, or info,mesh=debug).")),
            ("AllowedPattern", s("^[A-Za-z0-9_:=,.-]+$")),
            ("ConstraintDescription", s("a tracing EnvFilter directive (letters, digits and _ : = , . -)")),
        ]),
    );
}

pub fn topic_arn(t: &mut Template, name: &str, description: String) {
    t.parameter(
        name,
        map([
            ("Type", s("String")),
            ("Description", s(description)),
            ("AllowedPattern", s(TOPIC_ARN_PATTERN)),
            ("ConstraintDescription", s("an SNS topic ARN.")),
        ]),
    );
}

pub fn string(t: &mut Template, name: &str, description: &str, pattern: &str) {
    t.parameter(name, map([("Type", s("String")), ("Description", s(description)), ("AllowedPattern", s(pattern))]));
}

pub fn number(t: &mut Template, name: &str, default: i64, range: (i64, i64), description: &str) {
    t.parameter(
        name,
        map([
            ("Type", s("Number")),
            ("Default", Value::from(default)),
            ("MinValue", Value::from(range.0)),
            ("MaxValue", Value::from(range.1)),
            ("Description", s(description)),
        ]),
    );
}

/// `AlarmActionArn`: where alarms notify (an SNS topic or an incident tool);
/// empty = alarms only change state.
pub fn alarm_action(t: &mut Template) {
    t.parameter(
        "AlarmActionArn",
        map([
            ("Type", s("String")),
            ("Default", s("")),
            ("Description", s("ARN the alarms notify (e.g. the owning team's SNS topic); empty = no notification.")),
            ("AllowedPattern", s("^(arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]*:.+)?$")),
        ]),
    );
}

/// The condition under which the stack's event source mappings poll.
pub const MAPPINGS_ENABLED: &str = "MappingsEnabled";

/// `EventSourceMappings`: `Disabled` deploys every mapping with the real
/// `Enabled: false`, for an endpoint that cannot run functions; a driver
/// (`mesh dev`) reads the mappings back and plays them.
pub fn event_source_mappings(t: &mut Template) {
    t.parameter(
        "EventSourceMappings",
        map([
            ("Type", s("String")),
            ("Default", s("Enabled")),
            ("AllowedValues", strings(["Enabled", "Disabled"])),
            (
                "Description",
                s("Disabled: the mappings are created turned off (Enabled: false), for an endpoint that cannot \
                   run functions; a driver such as `mesh dev` plays them instead."),
            ),
        ]),
    );
    t.condition(MAPPINGS_ENABLED, equals(r("EventSourceMappings"), s("Enabled")));
}
