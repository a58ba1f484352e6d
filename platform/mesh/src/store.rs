//! The state store port: a domain's state, its outbox and its inbox change
//! together in one transaction or not at all.

use std::future::Future;

use uuid::Uuid;

use crate::envelope::Envelope;
use crate::error::Cause;

/// An entity's state and the version it was stored at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<S> {
    pub state: S,
    pub version: u64,
}

/// The new state of one entity, written only if it is still at `expected_version`
/// (0: the entity must not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange<S> {
    pub entity_id: String,
    pub expected_version: u64,
    pub new_version: u64,
    pub state: S,
}

/// Everything one command or one consumed event changes, written atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit<S> {
    /// `None` when the decision changed no state (only events or the inbox).
    pub change: Option<StateChange<S>>,
    pub events: Vec<Envelope>,
    /// The consumed event's id, recorded so a redelivery is recognised.
    pub inbox: Option<Uuid>,
}

impl<S> Commit<S> {
    /// A decision that changed nothing: only the inbox records the event.
    pub fn inbox_only(event_id: Uuid) -> Self {
        Self { change: None, events: Vec::new(), inbox: Some(event_id) }
    }

    /// What a decision about one entity writes: the entity was read at
    /// `version` (0: it is new), its decision emitted `events` (already
    /// numbered from `version + 1`) and left it as `state`. A decision that
    /// emitted nothing changed nothing, so only the inbox is written.
    pub fn decided(entity_id: &str, version: u64, state: S, events: Vec<Envelope>, inbox: Option<Uuid>) -> Self {
        let change = (!events.is_empty()).then(|| StateChange {
            entity_id: entity_id.to_string(),
            expected_version: version,
            new_version: version + events.len() as u64,
            state,
        });
        Self { change, events, inbox }
    }

    /// What a read-side view writes for a consumed event: the entity's next
    /// version, and no events (a view publishes nothing, so its version
    /// counts the changes it made, not events it emitted).
    pub fn view_changed(entity_id: &str, version: u64, state: S, inbox: Uuid) -> Self {
        let change = StateChange {
            entity_id: entity_id.to_string(),
            expected_version: version,
            new_version: version + 1,
            state,
        };
        Self { change: Some(change), events: Vec::new(), inbox: Some(inbox) }
    }

    /// Whether there is anything to write at all.
    pub fn is_empty(&self) -> bool {
        self.change.is_none() && self.events.is_empty() && self.inbox.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity_id} changed since version {expected_version} was read")]
    VersionConflict { entity_id: String, expected_version: u64 },
    #[error("{entity_id} already exists")]
    AlreadyExists { entity_id: String },
    #[error("event {event_id} was already applied")]
    AlreadyApplied { event_id: Uuid },
    #[error("the outbox already holds sequence {sequence} of {entity_id}")]
    DuplicateEvent { entity_id: String, sequence: u64 },
    #[error("the commit is too large: {0}")]
    TooLarge(String),
    #[error("stored item is unreadable: {0}")]
    Corrupt(String),
    /// The store could not be asked or did not answer: worth retrying.
    #[error("the store is unavailable ({operation})")]
    Unavailable {
        operation: String,
        #[source]
        source: Cause,
    },
}

/// Equal when they say the same: a cause compares by its message.
impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Unavailable { operation: a, source: x }, Self::Unavailable { operation: b, source: y }) => {
                a == b && x.to_string() == y.to_string()
            }
            (Self::Unavailable { .. }, _) | (_, Self::Unavailable { .. }) => false,
            _ => self.to_string() == other.to_string() && std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl StoreError {
    /// The store could not do `operation`, because of `source`.
    pub fn unavailable(operation: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Unavailable { operation: operation.into(), source: source.into() }
    }

    /// Worth retrying the same work later (the decision may change on reload).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::VersionConflict { .. } | Self::DuplicateEvent { .. } | Self::Unavailable { .. })
    }
}

/// Loads and commits one domain's entities.
pub trait StateStore<S>: Send + Sync {
    fn load(&self, entity_id: &str) -> impl Future<Output = Result<Option<Versioned<S>>, StoreError>> + Send;

    fn commit(&self, commit: Commit<S>) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How a reaction to a consumed event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// State, events and inbox were written.
    Changed,
    /// The inbox already had the event: a redelivery, nothing changed.
    Duplicate,
}

/// Reacts to one consumed event exactly once: loads the entity, asks `decide`
/// for the commit (a pure function of the current state), and writes it with
/// the event in the inbox. On a version conflict (a concurrent writer) it
/// reloads and decides again, up to `attempts` times.
pub async fn react_once<S, St, E, F>(
    store: &St,
    entity_id: &str,
    attempts: u32,
    decide: F,
) -> Result<Applied, ReactError<E>>
where
    St: StateStore<S>,
    F: Fn(Option<Versioned<S>>) -> Result<Commit<S>, E>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = store.load(entity_id).await.map_err(ReactError::Store)?;
        let commit = decide(current).map_err(ReactError::Decide)?;
        match store.commit(commit).await {
            Ok(()) => return Ok(Applied::Changed),
            Err(StoreError::AlreadyApplied { .. }) => return Ok(Applied::Duplicate),
            // A concurrent writer got there first: reload and decide again.
            Err(StoreError::VersionConflict { .. } | StoreError::AlreadyExists { .. }) if attempt < attempts => {}
            Err(e) => return Err(ReactError::Store(e)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReactError<E> {
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Decide(E),
}

pub mod memory {
    //! An in-memory store with the same all-or-nothing semantics, for
    //! handler tests and local experiments.
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug)]
    pub struct MemoryStore<S> {
        pub inner: Mutex<Inner<S>>,
    }

    impl<S> Default for MemoryStore<S> {
        fn default() -> Self {
            Self { inner: Mutex::new(Inner::default()) }
        }
    }

    #[derive(Debug)]
    pub struct Inner<S> {
        pub states: HashMap<String, Versioned<S>>,
        pub outbox: HashMap<(String, u64), Envelope>,
        pub inbox: HashSet<Uuid>,
        /// Commits to fail with a conflict before letting one through.
        pub conflicts_to_inject: u32,
    }

    impl<S: Clone> MemoryStore<S> {
        fn lock(&self) -> std::sync::MutexGuard<'_, Inner<S>> {
            self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        /// Every event in the outbox, by entity and sequence.
        pub fn outbox(&self) -> Vec<Envelope> {
            let mut events: Vec<_> = self.lock().outbox.values().cloned().collect();
            events.sort_by(|a, b| (&a.subject, a.sequence).cmp(&(&b.subject, b.sequence)));
            events
        }

        pub fn state(&self, entity_id: &str) -> Option<Versioned<S>> {
            self.lock().states.get(entity_id).cloned()
        }

        /// How many entities have a state.
        pub fn entities(&self) -> usize {
            self.lock().states.len()
        }

        pub fn put_state(&self, entity_id: &str, state: S, version: u64) {
            self.lock().states.insert(entity_id.to_string(), Versioned { state, version });
        }

        /// Makes the next `count` commits fail as if another writer won.
        pub fn inject_conflicts(&self, count: u32) {
            self.lock().conflicts_to_inject = count;
        }
    }

    /// A lock a panicking thread left behind.
    fn poisoned<T>(operation: &str, error: &std::sync::PoisonError<T>) -> StoreError {
        StoreError::unavailable(operation, error.to_string())
    }

    impl<S> Default for Inner<S> {
        fn default() -> Self {
            Self { states: HashMap::new(), outbox: HashMap::new(), inbox: HashSet::new(), conflicts_to_inject: 0 }
        }
    }

    impl<S: Clone + Send + Sync> StateStore<S> for MemoryStore<S> {
        async fn load(&self, entity_id: &str) -> Result<Option<Versioned<S>>, StoreError> {
            Ok(self.inner.lock().map_err(|e| poisoned("load", &e))?.states.get(entity_id).cloned())
        }

        async fn commit(&self, commit: Commit<S>) -> Result<(), StoreError> {
            let mut inner = self.inner.lock().map_err(|e| poisoned("commit", &e))?;
            if let Some(id) = commit.inbox.filter(|id| inner.inbox.contains(id)) {
                return Err(StoreError::AlreadyApplied { event_id: id });
            }
            if let Some(change) = &commit.change {
                let current = inner.states.get(&change.entity_id).map_or(0, |v| v.version);
                // As DynamoDB's conditions do: a new entity must not exist yet.
                if change.expected_version == 0 && current != 0 {
                    return Err(StoreError::AlreadyExists { entity_id: change.entity_id.clone() });
                }
                if inner.conflicts_to_inject > 0 || current != change.expected_version {
                    inner.conflicts_to_inject = inner.conflicts_to_inject.saturating_sub(1);
                    return Err(StoreError::VersionConflict {
                        entity_id: change.entity_id.clone(),
                        expected_version: change.expected_version,
                    });
                }
            }
            for event in &commit.events {
                if inner.outbox.contains_key(&(event.subject.clone(), event.sequence)) {
                    return Err(StoreError::DuplicateEvent {
                        entity_id: event.subject.clone(),
                        sequence: event.sequence,
                    });
                }
            }
            if let Some(change) = commit.change {
                inner.states.insert(change.entity_id, Versioned { state: change.state, version: change.new_version });
            }
            for event in commit.events {
                inner.outbox.insert((event.subject.clone(), event.sequence), event);
            }
            if let Some(id) = commit.inbox {
                inner.inbox.insert(id);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::memory::MemoryStore;
    use super::*;

    fn bump(event_id: Uuid) -> impl Fn(Option<Versioned<u32>>) -> Result<Commit<u32>, String> {
        move |current| {
            let (state, version) = current.map_or((0, 0), |v| (v.state, v.version));
            Ok(Commit {
                change: Some(StateChange {
                    entity_id: "e".into(),
                    expected_version: version,
                    new_version: version + 1,
                    state: state + 1,
                }),
                events: vec![],
                inbox: Some(event_id),
            })
        }
    }

    #[test]
    fn a_view_change_moves_the_row_one_version_on_and_emits_nothing() {
        let consumed = Uuid::now_v7();

        let commit = Commit::view_changed("order-1", 4, "approved", consumed);

        let change =
            StateChange { entity_id: "order-1".into(), expected_version: 4, new_version: 5, state: "approved" };
        assert_eq!(commit, Commit { change: Some(change), events: vec![], inbox: Some(consumed) });
    }

    #[tokio::test]
    async fn applies_a_redelivered_event_once() {
        let store = MemoryStore::<u32>::default();
        let event = Uuid::now_v7();
        assert_eq!(react_once(&store, "e", 3, bump(event)).await.unwrap(), Applied::Changed);
        assert_eq!(react_once(&store, "e", 3, bump(event)).await.unwrap(), Applied::Duplicate);
        assert_eq!(store.load("e").await.unwrap().unwrap(), Versioned { state: 1, version: 1 });
    }

    #[tokio::test]
    async fn decides_again_after_a_version_conflict() {
        let store = MemoryStore::<u32>::default();
        store.inner.lock().unwrap().conflicts_to_inject = 2;
        assert_eq!(react_once(&store, "e", 3, bump(Uuid::now_v7())).await.unwrap(), Applied::Changed);
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt() {
        let store = MemoryStore::<u32>::default();
        store.inner.lock().unwrap().conflicts_to_inject = 3;
        let error = react_once(&store, "e", 3, bump(Uuid::now_v7())).await.unwrap_err();
        assert!(matches!(error, ReactError::Store(StoreError::VersionConflict { .. })), "{error}");
    }
}
