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
    /// A flight had just ended; this is what it kept.
    Kept(V),
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
    /// flight finds what `keep` kept: `kept()` is asked, with no flight for `key` and none
    /// able to start, before a new one starts (the flight may have ended since the caller
    /// last looked).
    pub(crate) fn join<W, F>(
        &self,
        key: K,
        kept: impl FnOnce() -> Option<V>,
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
        if let Some(value) = kept() {
            return Joined::Kept(value);
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
            Self::Kept(value) => return Ok(value),
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

    pub(crate) fn kept(&self) -> bool {
        matches!(self, Self::Kept(_))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn soon() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(5)
    }

    /// Callers that come while the work runs share its one run; one that comes after it
    /// ended gets what it kept, without a second run.
    #[tokio::test]
    async fn one_run_for_all_callers_while_it_runs_and_what_it_kept_after() {
        let flights: Flights<&str, u32> = Flights::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let kept = Arc::new(Mutex::new(None));
        let join = || {
            let runs = Arc::clone(&runs);
            let keep = Arc::clone(&kept);
            let found = *kept.lock().unwrap();
            flights.join(
                "k",
                move || found,
                move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    7
                },
                move |v| *keep.lock().unwrap() = Some(*v),
            )
        };
        let first = join();
        let second = join();
        assert!(!first.coalesced() && second.coalesced());
        assert_eq!(flights.len(), 1);
        assert_eq!(first.wait(soon()).await, Ok(7));
        assert_eq!(second.wait(soon()).await, Ok(7));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(flights.len(), 0);
        let third = join();
        assert!(third.kept());
        assert_eq!(third.wait(soon()).await, Ok(7));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    /// Work that panics ends its flight; its callers are told, and the next caller starts
    /// afresh rather than waiting for ever.
    #[tokio::test]
    async fn a_flight_that_panics_ends_and_its_callers_are_told() {
        let flights: Flights<&str, u32> = Flights::new();
        let lost = flights.join("k", || None, || async { panic!("the work failed") }, |_| {});
        assert_eq!(lost.wait(soon()).await, Err(Missed::Lost));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(flights.len(), 0);
        let again = flights.join("k", || None, || async { 8 }, |_| {});
        assert!(!again.coalesced());
        assert_eq!(again.wait(soon()).await, Ok(8));
    }
}
