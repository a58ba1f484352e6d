//! Per-entity order for a subscription that asked for it (`order:` in the
//! descriptor). The platform remembers, per source product and entity, the
//! last `sequence` it applied (its *position*):
//!
//! - `sequence` (a standard queue): an event at or below the position is
//!   stale and dropped; one more than a step ahead is held back, redelivered
//!   by the queue until its predecessor is applied (or, after the queue's
//!   `maxReceiveCount`, parked in the DLQ).
//! - `strict` (a FIFO queue keeps the order): the position only watches; an
//!   event applied below it is an order violation, counted on the position.
//!
//! The position moves after the handler's commit, not in it: a crash in
//! between leaves the event unacknowledged, its redelivery is a duplicate
//! for the inbox, and the position moves then. It never runs ahead of an
//! applied event, so nothing is skipped.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// Per-entity delivery order of a subscription.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// A standard queue, no promise: the handler is idempotent by event id
    /// and its merge does not depend on arrival order.
    #[default]
    Any,
    /// A standard queue, and the platform keeps each entity's last applied
    /// `sequence`: a stale event is dropped, an early one is held back
    /// (redelivered) until its predecessor is applied. Only for a
    /// subscription to every event type of the product, otherwise a gap
    /// cannot be told from a filtered event.
    Sequence,
    /// A FIFO queue fed by the product's FIFO topic: `MessageGroupId` = the
    /// entity id, deduplication id = the event id.
    Strict,
}

impl Order {
    pub fn is_any(&self) -> bool {
        *self == Self::Any
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Sequence => "sequence",
            Self::Strict => "strict",
        }
    }
}

/// A subscription's order that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderingError {
    #[error("`{0}` is not an order (any, sequence, strict)")]
    UnknownOrder(String),
    #[error("`{0}` is not <domain>/<product>=<order>")]
    Malformed(String),
}

impl FromStr for Order {
    type Err = OrderingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "any" => Ok(Self::Any),
            "sequence" => Ok(Self::Sequence),
            "strict" => Ok(Self::Strict),
            _ => Err(OrderingError::UnknownOrder(text.to_owned())),
        }
    }
}

/// Where the platform keeps positions (the consumer's inbox table on AWS).
pub trait Positions: Send + Sync {
    /// The last sequence of `subject` from `source` that was applied.
    fn last(&self, source: &str, subject: &str) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Moves the position to `sequence`; `false` if it was already past it
    /// (nothing changes then). Already at it counts as moved: a retried call
    /// must not read its own landed write as a later event.
    fn advance(
        &self,
        source: &str,
        subject: &str,
        sequence: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Counts an event applied after a later one of the same entity.
    fn flag_out_of_order(
        &self,
        source: &str,
        subject: &str,
        sequence: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Which products a consumer takes in order, and where positions are kept.
#[derive(Debug, Default)]
pub struct Ordering<P> {
    modes: HashMap<String, Order>,
    pub positions: P,
}

impl<P> Ordering<P> {
    pub fn new(modes: HashMap<String, Order>, positions: P) -> Self {
        Self { modes, positions }
    }

    /// The order the subscription to `source` (`<domain>/<product>`) asked for.
    pub fn of(&self, source: &str) -> Order {
        self.modes.get(source).copied().unwrap_or_default()
    }
}

/// Reads `ORDERING`'s form: `<domain>/<product>=<order>`, comma-separated.
pub fn parse_modes(text: &str) -> Result<HashMap<String, Order>, OrderingError> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (source, order) = part.split_once('=').ok_or_else(|| OrderingError::Malformed(part.to_owned()))?;
            Ok((source.trim().to_owned(), order.trim().parse()?))
        })
        .collect()
}

/// What to do with an event of a `sequence` subscription, given the position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The next event of the entity.
    Apply,
    /// At or below the last applied event: already applied or superseded.
    Stale { last: u64 },
    /// Its predecessor has not been applied yet (`None`: nothing has).
    Early { last: Option<u64> },
}

/// Every entity's events are numbered from 1 without gaps.
pub fn gate(last: Option<u64>, sequence: u64) -> Gate {
    match last {
        Some(last) if sequence <= last => Gate::Stale { last },
        Some(last) if sequence == last + 1 => Gate::Apply,
        None if sequence == 1 => Gate::Apply,
        last => Gate::Early { last },
    }
}

/// Keeps no positions: for consumers that take every product in any order.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPositions;

impl Positions for NoPositions {
    async fn last(&self, _: &str, _: &str) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    async fn advance(&self, _: &str, _: &str, _: u64) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn flag_out_of_order(&self, _: &str, _: &str, _: u64) -> Result<(), StoreError> {
        Ok(())
    }
}

pub mod memory {
    //! Positions in memory, for handler tests.
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Default)]
    pub struct MemoryPositions {
        /// (source, subject) → (last sequence, events applied out of order).
        pub inner: Mutex<HashMap<(String, String), (u64, u64)>>,
    }

    impl MemoryPositions {
        fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), (u64, u64)>> {
            self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        pub fn out_of_order(&self) -> u64 {
            self.lock().values().map(|(_, flagged)| flagged).sum()
        }
    }

    impl Positions for MemoryPositions {
        async fn last(&self, source: &str, subject: &str) -> Result<Option<u64>, StoreError> {
            Ok(self.lock().get(&(source.to_owned(), subject.to_owned())).map(|(last, _)| *last))
        }

        async fn advance(&self, source: &str, subject: &str, sequence: u64) -> Result<bool, StoreError> {
            let mut positions = self.lock();
            let entry = positions.entry((source.to_owned(), subject.to_owned())).or_default();
            let moved = entry.0 <= sequence;
            entry.0 = entry.0.max(sequence);
            Ok(moved)
        }

        async fn flag_out_of_order(&self, source: &str, subject: &str, _: u64) -> Result<(), StoreError> {
            self.lock().entry((source.to_owned(), subject.to_owned())).or_default().1 += 1;
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lets_only_the_next_event_through() {
        assert_eq!(gate(None, 1), Gate::Apply);
        assert_eq!(gate(None, 2), Gate::Early { last: None });
        assert_eq!(gate(Some(3), 4), Gate::Apply);
        assert_eq!(gate(Some(3), 3), Gate::Stale { last: 3 });
        assert_eq!(gate(Some(3), 1), Gate::Stale { last: 3 });
        assert_eq!(gate(Some(3), 5), Gate::Early { last: Some(3) });
    }

    #[test]
    fn reads_the_modes_the_template_sets() {
        let modes = parse_modes("orders/order-events=sequence, customers/customer-credit=strict").unwrap();
        assert_eq!(modes["orders/order-events"], Order::Sequence);
        assert_eq!(modes["customers/customer-credit"], Order::Strict);
        assert!(parse_modes("").unwrap().is_empty());
        assert_eq!(
            parse_modes("orders/order-events").unwrap_err().to_string(),
            "`orders/order-events` is not <domain>/<product>=<order>"
        );
        assert_eq!(
            parse_modes("orders/order-events=sorted").unwrap_err().to_string(),
            "`sorted` is not an order (any, sequence, strict)"
        );
    }
}
