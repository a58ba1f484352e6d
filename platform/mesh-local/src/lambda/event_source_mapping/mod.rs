//! An event-source-mapping driver's rules, as Lambda applies them, for an
//! endpoint that cannot run functions (LocalStack without Docker) or a
//! handler running on a developer's machine (`mesh dev`): which records go
//! into the next invocation, what a response means, when a stream batch is
//! given up and what its on-failure record says, which queue messages are
//! deleted. Pure: the polling and the calls live with the driver.

pub mod filter;
pub mod queue;
pub mod stream;

/// How an invocation ended, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function returned; `failures` are the `itemIdentifier`s of its
    /// `batchItemFailures` (`None`: no list, or no response body at all).
    Returned { failures: Option<Vec<Option<String>>> },
    /// The function failed (an error, a crash, a timeout).
    Failed,
}

impl Outcome {
    pub fn success() -> Self {
        Self::Returned { failures: None }
    }

    /// A response naming `ids` as failed.
    pub fn failed_items<I: Into<String>>(ids: impl IntoIterator<Item = I>) -> Self {
        Self::Returned { failures: Some(ids.into_iter().map(|id| Some(id.into())).collect()) }
    }
}

/// What a response with `ReportBatchItemFailures` on means for a batch whose
/// records have `ids`, in order: the index of the first failed record, or
/// `None` for full success. An empty or unknown identifier fails the whole
/// batch (index 0), as Lambda does.
pub fn first_failure(ids: &[&str], outcome: &Outcome, report_item_failures: bool) -> Option<usize> {
    match outcome {
        Outcome::Failed => Some(0),
        Outcome::Returned { .. } if !report_item_failures => None,
        Outcome::Returned { failures: None } => None,
        Outcome::Returned { failures: Some(failures) } if failures.is_empty() => None,
        Outcome::Returned { failures: Some(failures) } => {
            let mut first = usize::MAX;
            for failure in failures {
                match failure.as_deref().filter(|id| !id.is_empty()).and_then(|id| ids.iter().position(|i| *i == id)) {
                    Some(index) => first = first.min(index),
                    None => return Some(0),
                }
            }
            Some(first)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_response_the_way_lambda_does() {
        let ids = ["1", "2", "3"];
        assert_eq!(first_failure(&ids, &Outcome::success(), true), None);
        assert_eq!(first_failure(&ids, &Outcome::failed_items(Vec::<String>::new()), true), None);
        assert_eq!(first_failure(&ids, &Outcome::failed_items(["3", "2"]), true), Some(1));
        // An empty, missing or unknown identifier: the whole batch failed.
        assert_eq!(first_failure(&ids, &Outcome::failed_items([""]), true), Some(0));
        assert_eq!(first_failure(&ids, &Outcome::Returned { failures: Some(vec![None]) }, true), Some(0));
        assert_eq!(first_failure(&ids, &Outcome::failed_items(["9"]), true), Some(0));
        assert_eq!(first_failure(&ids, &Outcome::Failed, true), Some(0));
        // Without ReportBatchItemFailures a returned response is a success.
        assert_eq!(first_failure(&ids, &Outcome::failed_items(["2"]), false), None);
    }
}
