//! IAM policy evaluation, as far as the mesh's policies need it: principals
//! (an AWS service, an IAM principal of the account, anyone), actions and
//! resources with `*` and `?`, the condition operators the templates use,
//! and an explicit Deny winning over any Allow. An operator it does not know
//! never matches, so an unknown condition cannot make a grant look present.

use std::collections::BTreeMap;

use serde_norway::Value;

use super::stacks::Stacks;

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An AWS service principal (`sns.amazonaws.com`).
    Service(String),
    /// An IAM principal of this account (its ARN is `aws:PrincipalArn` in the context).
    Account,
}

/// One call to evaluate.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub principal: Principal,
    pub action: &'a str,
    pub resource: &'a str,
    /// Condition keys (lowercase) and their values.
    pub context: BTreeMap<String, String>,
}

impl<'a> Request<'a> {
    pub fn new(principal: Principal, action: &'a str, resource: &'a str) -> Self {
        let mut context = BTreeMap::new();
        context.insert("aws:securetransport".to_owned(), "true".to_owned());
        Self { principal, action, resource, context }
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.context.insert(key.to_ascii_lowercase(), value.to_owned());
        self
    }
}

/// What a policy says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement applies.
    Silent,
    Deny,
}

/// `pattern` with `*` (any run) and `?` (one character) against `text`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The statements of a policy document.
pub fn statements(document: &Value) -> Vec<&Value> {
    match document.get("Statement") {
        Some(Value::Sequence(items)) => items.iter().collect(),
        Some(single @ Value::Mapping(_)) => vec![single],
        _ => Vec::new(),
    }
}

/// The policy document's decision on `request`. `resource_policy`: the
/// document belongs to a resource (statements name principals); otherwise it
/// is an identity policy (no principal: the role's own).
pub fn decide(stacks: &Stacks, stack: &str, document: &Value, request: &Request, resource_policy: bool) -> Decision {
    let mut decision = Decision::Silent;
    for statement in statements(document) {
        if !applies(stacks, stack, statement, request, resource_policy) {
            continue;
        }
        match statement.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return Decision::Deny,
            Some("Allow") => decision = Decision::Allow,
            _ => {}
        }
    }
    decision
}

fn applies(stacks: &Stacks, stack: &str, statement: &Value, request: &Request, resource_policy: bool) -> bool {
    let principal_ok = !resource_policy || principal_matches(stacks, stack, statement.get("Principal"), request);
    principal_ok
        && texts(stacks, stack, statement.get("Action"))
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), &request.action.to_ascii_lowercase()))
        && texts(stacks, stack, statement.get("Resource")).iter().any(|r| glob(r, request.resource))
        && conditions_hold(stacks, stack, statement.get("Condition"), request)
}

/// The texts of a value or list of values.
pub fn texts(stacks: &Stacks, stack: &str, value: Option<&Value>) -> Vec<String> {
    value.map(|v| stacks.eval_all(stack, v).into_iter().map(|r| r.text).collect()).unwrap_or_default()
}

fn principal_matches(stacks: &Stacks, stack: &str, principal: Option<&Value>, request: &Request) -> bool {
    match principal {
        Some(Value::String(star)) => star == "*",
        Some(Value::Mapping(kinds)) => kinds.iter().any(|(kind, names)| {
            let names = texts(stacks, stack, Some(names));
            match (kind.as_str(), &request.principal) {
                (Some("Service"), Principal::Service(service)) => names.iter().any(|n| n == service),
                (Some("AWS"), Principal::Account) => {
                    names.iter().any(|n| n == "*" || n == "arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
                }
                (Some("AWS"), Principal::Service(_)) => names.iter().any(|n| n == "*"),
                _ => false,
            }
        }),
        _ => false,
    }
}

fn conditions_hold(stacks: &Stacks, stack: &str, condition: Option<&Value>, request: &Request) -> bool {
    let Some(operators) = condition.and_then(Value::as_mapping) else { return true };
    operators.iter().all(|(operator, keys)| {
        let (Some(operator), Some(keys)) = (operator.as_str(), keys.as_mapping()) else { return false };
        keys.iter().all(|(key, values)| {
            let key = key.as_str().unwrap_or_default().to_ascii_lowercase();
            let values = texts(stacks, stack, Some(values));
            holds(operator, request.context.get(&key).map(String::as_str), &values)
        })
    })
}

/// One condition operator over the request's value of its key.
fn holds(operator: &str, actual: Option<&str>, values: &[String]) -> bool {
    let equal = |a: &str| values.iter().any(|v| v == a);
    let like = |a: &str| values.iter().any(|v| glob(v, a));
    match (operator, actual) {
        ("StringEquals" | "ArnEquals" | "Bool", Some(a)) => equal(a),
        ("StringLike" | "ArnLike", Some(a)) => like(a),
        ("StringNotEquals" | "ArnNotEquals", Some(a)) => !equal(a),
        ("StringNotLike" | "ArnNotLike", Some(a)) => !like(a),
        ("StringNotEquals" | "ArnNotEquals" | "StringNotLike" | "ArnNotLike", None) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(glob("arn:role/mesh-customers-*", "arn:role/mesh-customers-credit-us-east-1"));
        assert!(!glob("arn:role/mesh-customers-*", "arn:role/mesh-orders-api"));
        assert!(glob("sqs:*", "sqs:SendMessage"));
        assert!(glob("a?c", "abc"));
        assert!(glob("*", ""));
        assert!(!glob("abc", "abcd"));
    }
}
