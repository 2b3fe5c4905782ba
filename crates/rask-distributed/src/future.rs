//! Futures: handles to results that live on a cluster.
//!
//! A [`Future`] names one or more keys the scheduler computes for this
//! client. It is cheap to clone; the client keeps the results on the
//! workers while any handle to a key lives, and tells the scheduler to
//! release them when the last one drops (Dask's reference counting).
//! [`Future::result`] blocks until the result is there and brings it here;
//! [`as_completed`] yields futures in the order they finish.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rask_core::{Error, Key, Result, Value};

use crate::client::ClientInner;

/// One key this client holds: dropping the last handle releases it.
pub(crate) struct KeyHandle {
    pub(crate) client: Arc<ClientInner>,
    pub(crate) key: Key,
}

impl Drop for KeyHandle {
    fn drop(&mut self) {
        self.client.untrack(&self.key);
    }
}

type Finish<T> = dyn Fn(Vec<Value>) -> Result<T> + Send + Sync;

/// A result being computed on a cluster (Dask's `Future`).
///
/// Made by [`Client::submit`](crate::Client::submit),
/// [`Client::map`](crate::Client::map),
/// [`Client::scatter`](crate::Client::scatter) and
/// [`Client::compute`](crate::Client::compute).
/// Dropping the last copy of a future releases its result on the cluster.
///
/// ```no_run
/// # let client = rask_distributed::Client::connect("tcp://127.0.0.1:8786")?;
/// let f = client.scatter(vec![1u32, 2, 3])?;   // a value placed on a worker
/// assert_eq!(f.result()?, vec![1, 2, 3]);      // blocks until it is there
/// assert!(f.done());
/// # Ok::<(), rask_core::Error>(())
/// ```
pub struct Future<T> {
    keys: Arc<[KeyHandle]>,
    finish: Arc<Finish<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            keys: self.keys.clone(),
            finish: self.finish.clone(),
        }
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.done() { "finished" } else { "pending" };
        write!(f, "Future({}, {status})", self.key())
    }
}

impl<T> Future<T> {
    pub(crate) fn new(keys: Vec<KeyHandle>, finish: Arc<Finish<T>>) -> Self {
        Future {
            keys: keys.into(),
            finish,
        }
    }

    /// The key of the result (the first one, for a collection's future).
    pub fn key(&self) -> &Key {
        &self.keys[0].key
    }

    /// The keys this future waits for.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter().map(|h| &h.key)
    }

    fn client(&self) -> &Arc<ClientInner> {
        &self.keys[0].client
    }

    /// Whether the result is known: computed, failed or cancelled.
    pub fn done(&self) -> bool {
        self.client().all_done(self.keys())
    }

    /// Waits for the result and brings it to this process. A failed task's
    /// error names its key and cause; a lost scheduler is an
    /// [`Error::Cluster`].
    pub fn result(&self) -> Result<T> {
        let keys: Vec<Key> = self.keys().cloned().collect();
        let values = self.client().values(&keys, None)?;
        (self.finish)(values)
    }

    /// The result from the values of [`Future::keys`], in order.
    pub(crate) fn finish(&self, values: Vec<Value>) -> Result<T> {
        (self.finish)(values)
    }

    /// Like [`Future::result`], giving up after `timeout` with an error.
    pub fn result_timeout(&self, timeout: Duration) -> Result<T> {
        let keys: Vec<Key> = self.keys().cloned().collect();
        let values = self.client().values(&keys, Some(timeout))?;
        (self.finish)(values)
    }

    /// The error, if the task failed (waits until it is done).
    pub fn exception(&self) -> Option<Error> {
        let keys: Vec<Key> = self.keys().cloned().collect();
        self.client().wait_keys(&keys, None).err()
    }

    /// Cancels the work (unless another client wants it too); waiting on it
    /// afterwards gives [`Error::Cancelled`].
    pub fn cancel(&self) -> Result<()> {
        let keys: Vec<Key> = self.keys().cloned().collect();
        self.client().cancel(&keys)
    }
}

/// Yields futures in the order they finish (Dask's `as_completed`); failed
/// and cancelled ones are yielded too, and give their error from
/// [`Future::result`].
///
/// ```no_run
/// # use rask_distributed::{Client, Future, as_completed};
/// # fn f(fs: Vec<Future<u64>>) -> rask_core::Result<()> {
/// for done in as_completed(&fs) {
///     println!("{}", done.result()?);
/// }
/// # Ok(()) }
/// ```
pub fn as_completed<T>(futures: &[Future<T>]) -> AsCompleted<T> {
    AsCompleted {
        pending: futures.to_vec(),
        done: std::collections::VecDeque::new(),
    }
}

/// The iterator of [`as_completed`]: blocks in `next` until another future
/// has finished; ends when all have.
pub struct AsCompleted<T> {
    pending: Vec<Future<T>>,
    /// Found done by the last wait, not yet yielded.
    done: std::collections::VecDeque<Future<T>>,
}

impl<T> Iterator for AsCompleted<T> {
    type Item = Future<T>;

    fn next(&mut self) -> Option<Future<T>> {
        if self.done.is_empty() && !self.pending.is_empty() {
            // One wait moves every future done by then, so many futures
            // finishing together cost one scan, not one each.
            let client = self.pending[0].client().clone();
            let finished = client.wait_any(&self.pending);
            for (f, is_done) in std::mem::take(&mut self.pending).into_iter().zip(finished) {
                if is_done {
                    self.done.push_back(f);
                } else {
                    self.pending.push(f);
                }
            }
        }
        self.done.pop_front()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.pending.len() + self.done.len();
        (n, Some(n))
    }
}

impl<T> ExactSizeIterator for AsCompleted<T> {}

/// The result of a `#[rask::remote]` function: the value, as its type.
pub(crate) fn single<T: Clone + Send + Sync + 'static>() -> Arc<Finish<T>> {
    Arc::new(|mut values: Vec<Value>| {
        let v = values
            .pop()
            .ok_or_else(|| Error::Scheduler("a future got no value".into()))?;
        match v.downcast_ref::<T>() {
            Some(t) => Ok(t.clone()),
            None => Err(Error::Decode {
                what: "a future's result".into(),
                message: format!(
                    "it is a `{}`, not the `{}` the future was made for",
                    v.type_name(),
                    std::any::type_name::<T>()
                ),
            }),
        }
    })
}
