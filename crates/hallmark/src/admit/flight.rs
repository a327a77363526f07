//! Single-flight: concurrent requests for the same thing share one piece of work. The work
//! runs in a task of its own, so a request that gives up (its deadline passed, the apiserver
//! hung up) cancels nothing, and the retry finds it done. Results go back by value through
//! a channel per flight: no state is shared between the requests that wait.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// The flights running now, by what they compute.
pub(crate) struct Flights<K, V> {
    running: Arc<Mutex<HashMap<K, watch::Receiver<Option<V>>>>>,
}

/// How a caller came to a flight.
pub(crate) enum Joined<V> {
    /// It started the work.
    Started(watch::Receiver<Option<V>>),
    /// Another caller had; it shares the result.
    Coalesced(watch::Receiver<Option<V>>),
}

/// Why a flight gave no result to a caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Missed {
    /// The caller's deadline came first; the work goes on.
    Deadline,
    /// The work stopped without a result (it panicked).
    Lost,
}

impl<K, V> Flights<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new() -> Self {
        Self {
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// How many run now.
    pub(crate) fn len(&self) -> usize {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Joins the flight for `key`, or starts one running `work()` in a task of its own. The
    /// task runs `keep` on the result before the flight ends, so that a caller who finds no
    /// flight finds what `keep` kept.
    pub(crate) fn join<W, F>(
        &self,
        key: K,
        work: W,
        keep: impl FnOnce(&V) + Send + 'static,
    ) -> Joined<V>
    where
        W: FnOnce() -> F,
        F: Future<Output = V> + Send + 'static,
    {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(rx) = running.get(&key) {
            return Joined::Coalesced(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        running.insert(key.clone(), rx.clone());
        drop(running);
        let landing = Landing {
            running: Arc::clone(&self.running),
            key,
        };
        let future = work();
        tokio::spawn(async move {
            let value = future.await;
            keep(&value);
            // Sent before the flight ends: a caller that joined it gets the value; one that
            // comes after finds no flight, and what `keep` kept.
            let _no_one_waits = tx.send(Some(value));
            drop(landing);
        });
        Joined::Started(rx)
    }
}

impl<V: Clone> Joined<V> {
    /// The result, or why none came by `deadline`.
    pub(crate) async fn wait(self, deadline: tokio::time::Instant) -> Result<V, Missed> {
        let mut rx = match self {
            Self::Started(rx) | Self::Coalesced(rx) => rx,
        };
        match tokio::time::timeout_at(deadline, rx.wait_for(Option::is_some)).await {
            Ok(Ok(value)) => value.clone().ok_or(Missed::Lost),
            Ok(Err(_)) => Err(Missed::Lost),
            Err(_) => Err(Missed::Deadline),
        }
    }

    pub(crate) fn coalesced(&self) -> bool {
        matches!(self, Self::Coalesced(_))
    }
}

/// Ends a flight when its task ends, whether it finished or panicked.
struct Landing<K: Eq + Hash, V> {
    running: Arc<Mutex<HashMap<K, watch::Receiver<Option<V>>>>>,
    key: K,
}

impl<K: Eq + Hash, V> Drop for Landing<K, V> {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}
