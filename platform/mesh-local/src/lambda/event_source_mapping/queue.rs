//! An SQS queue under an event source mapping: after an invocation, the
//! messages that succeeded are deleted; the rest become visible again after
//! the queue's visibility timeout, and SQS itself moves a message to the DLQ
//! after `maxReceiveCount` receives.

use super::Outcome;

/// The messages of a batch (by message id, in order) to delete after an
/// invocation. A function error keeps them all; a response with
/// `ReportBatchItemFailures` keeps only the messages it names, unless an
/// identifier is empty or not in the batch (then it keeps them all).
pub fn to_delete<'a>(ids: &[&'a str], outcome: &Outcome, report_batch_item_failures: bool) -> Vec<&'a str> {
    match outcome {
        Outcome::Failed => Vec::new(),
        Outcome::Returned { .. } if !report_batch_item_failures => ids.to_vec(),
        Outcome::Returned { failures: None } => ids.to_vec(),
        Outcome::Returned { failures: Some(failures) } => {
            let named: Option<Vec<&str>> =
                failures.iter().map(|f| f.as_deref().filter(|id| !id.is_empty() && ids.contains(id))).collect();
            match named {
                Some(failed) => ids.iter().copied().filter(|id| !failed.contains(id)).collect(),
                None => Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_failed_messages_come_back() {
        let ids = ["a", "b", "c"];
        assert_eq!(to_delete(&ids, &Outcome::success(), true), ids);
        assert_eq!(to_delete(&ids, &Outcome::failed_items(["b"]), true), ["a", "c"]);
        assert_eq!(to_delete(&ids, &Outcome::failed_items(Vec::<String>::new()), true), ids);
        assert!(to_delete(&ids, &Outcome::Failed, true).is_empty());
        // An identifier that names no message of the batch: all come back.
        assert!(to_delete(&ids, &Outcome::failed_items(["z"]), true).is_empty());
        assert!(to_delete(&ids, &Outcome::failed_items([""]), true).is_empty());
        // Without ReportBatchItemFailures a response is a full success.
        assert_eq!(to_delete(&ids, &Outcome::failed_items(["b"]), false), ids);
    }
}
