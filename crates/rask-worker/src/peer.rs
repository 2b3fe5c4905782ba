//! Talking to peers: fetching inputs from other workers, and the data
//! server that answers them (and clients).
//!
//! A fetch asks one peer for a batch of keys with one
//! [`PeerRequest::GetData`] and gets one [`PeerReply::Data`] with the values
//! as bulk frames. Connections are kept per peer after use (a few each) and
//! reused; a kept connection that turns out to be dead is replaced once. A
//! value that arrives but does not decode here (its type is not registered
//! in this build, or its bytes are bad) is not missing — the peer has it —
//! so it is reported apart, as [`Undecodable`], for the tasks that need it
//! to fail (as Dask's `gather_dep` does on a deserialization error).
//!
//! The data server accepts `Role::Peer` connections, each served by a task
//! of its own: values are looked up in the store, encoded on request, and
//! sent as bulk frames; keys not held here, or whose type has no codec
//! (logged), are listed as missing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rask_core::codec::CodecError;
use rask_core::{Key, Value};
use rask_protocol::{
    BulkRef, ConnectOptions, Connection, Failure, FailureKind, Incoming, Listener, PeerReply,
    PeerRequest, Role, WireKey,
};
use rustc_hash::FxHashMap;
use tokio::task::JoinSet;

use crate::store::{Entry, Store};

/// Connections kept per peer, at most.
const KEEP_PER_PEER: usize = 4;
/// Longest wait for a peer's answer; a peer that says nothing this long is
/// treated as unreachable.
const REPLY_TIMEOUT: Duration = Duration::from_secs(300);
/// Values bigger than this in total are encoded or decoded off the async
/// threads.
const BLOCKING_BYTES: u64 = 1 << 20;
/// How long to wait before asking a busy peer again.
pub(crate) const BUSY_BACKOFF: Duration = Duration::from_millis(50);

/// What came of a fetch.
pub(crate) enum FetchResult {
    /// The peer answered: the values it had that decode here, and those
    /// that arrived but do not (the keys in neither it lacked).
    Data {
        /// Decoded values.
        found: Vec<(Key, Value)>,
        /// Values that arrived but do not decode here.
        undecodable: Vec<Undecodable>,
    },
    /// The peer was too busy; ask again.
    Busy,
    /// The peer could not be reached or answered nonsense.
    Failed(String),
}

/// Open connections to peers, by address.
pub(crate) struct Peers {
    opts: ConnectOptions,
    idle: Mutex<FxHashMap<String, Vec<Connection>>>,
}

impl Peers {
    /// Connections made with `opts` (role [`Role::Peer`]).
    pub(crate) fn new(mut opts: ConnectOptions) -> Peers {
        opts.role = Role::Peer;
        Peers {
            opts,
            idle: Mutex::new(FxHashMap::default()),
        }
    }

    fn take(&self, peer: &str) -> Option<Connection> {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(peer)
            .and_then(Vec::pop)
    }

    fn put(&self, peer: &str, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let kept = idle.entry(peer.to_string()).or_default();
        if kept.len() < KEEP_PER_PEER {
            kept.push(conn);
        }
    }

    /// Asks `peer` for `keys`.
    pub(crate) async fn fetch(&self, peer: &str, keys: &[Key]) -> FetchResult {
        let wire: Vec<WireKey> = keys.iter().map(WireKey::from).collect();
        if let Some(conn) = self.take(peer) {
            // A kept connection may have been closed by the peer meanwhile:
            // on failure, try once more on a fresh one.
            if let Ok(result) = self.request(peer, conn, &wire).await {
                return result;
            }
        }
        let conn = match rask_protocol::connect(peer, &self.opts).await {
            Ok(conn) => conn,
            Err(e) => return FetchResult::Failed(e.to_string()),
        };
        match self.request(peer, conn, &wire).await {
            Ok(result) => result,
            Err(message) => FetchResult::Failed(message),
        }
    }

    async fn request(
        &self,
        peer: &str,
        mut conn: Connection,
        keys: &[WireKey],
    ) -> Result<FetchResult, String> {
        conn.send(
            &PeerRequest::GetData {
                keys: keys.to_vec(),
            },
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
        let reply = tokio::time::timeout(REPLY_TIMEOUT, conn.recv::<PeerReply>())
            .await
            .map_err(|_| format!("{peer} did not answer within {REPLY_TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{peer} closed the connection without answering"))?;
        let (values, bulk) = match reply.msg {
            PeerReply::Busy => {
                self.put(peer, conn);
                tokio::time::sleep(BUSY_BACKOFF).await;
                return Ok(FetchResult::Busy);
            }
            PeerReply::Data { values, .. } => (values, reply.bulk),
        };
        self.put(peer, conn);
        let total: u64 = bulk.iter().map(|b| b.len() as u64).sum();
        let peer_name = peer.to_string();
        let decode = move || decode_values(&peer_name, values, &bulk);
        let (found, undecodable) = if total > BLOCKING_BYTES {
            tokio::task::spawn_blocking(decode)
                .await
                .map_err(|e| format!("decoding values from {peer} failed: {e}"))?
        } else {
            decode()
        };
        Ok(FetchResult::Data { found, undecodable })
    }
}

/// A value a peer sent that does not decode here.
#[derive(Debug)]
pub(crate) struct Undecodable {
    /// The value's key.
    pub(crate) key: Key,
    /// The type tag the peer sent it with.
    pub(crate) tag: String,
    /// Why it does not decode.
    pub(crate) error: DecodeError,
}

impl Undecodable {
    /// How a task that needed the value fails: [`FailureKind::Missing`]
    /// when its type is not in this build, [`FailureKind::Task`] when the
    /// bytes are bad.
    pub(crate) fn kind(&self) -> FailureKind {
        match self.error {
            DecodeError::Codec(CodecError::UnknownTag { .. }) => FailureKind::Missing,
            _ => FailureKind::Task,
        }
    }
}

/// Decodes the values of a reply from `from`: those that decode, and those
/// that do not (logged).
pub(crate) fn decode_values(
    from: &str,
    values: Vec<(WireKey, BulkRef)>,
    bulk: &[Bytes],
) -> (Vec<(Key, Value)>, Vec<Undecodable>) {
    let mut found = Vec::with_capacity(values.len());
    let mut undecodable = Vec::new();
    for (wk, r) in values {
        let key = Key::from(&wk);
        match decode_value(&r, bulk) {
            Ok(v) => found.push((key, v)),
            Err(error) => {
                tracing::warn!(%key, from, tag = r.tag, "a fetched value does not decode: {error}");
                undecodable.push(Undecodable {
                    key,
                    tag: r.tag,
                    error,
                });
            }
        }
    }
    (found, undecodable)
}

/// Decodes values sent to be kept here (scattered by a client, handed over
/// by a retiring peer). A value that does not decode cannot be kept, and
/// nothing else will ever hold it, so it becomes a failure of its key for
/// the scheduler to report, naming the key and the value's type tag.
pub(crate) fn decode_stored(
    values: Vec<(WireKey, BulkRef)>,
    bulk: &[Bytes],
) -> (Vec<(WireKey, Value)>, Vec<Failure>) {
    let mut decoded = Vec::with_capacity(values.len());
    let mut failed = Vec::new();
    for (wk, r) in values {
        let key = Key::from(&wk);
        match decode_value(&r, bulk) {
            Ok(v) => decoded.push((wk, v)),
            Err(e) => failed.push(Failure {
                key: wk,
                op: "scatter".into(),
                kind: match e {
                    DecodeError::Codec(CodecError::UnknownTag { .. }) => FailureKind::Missing,
                    _ => FailureKind::Task,
                },
                message: format!(
                    "the value stored as {key} (type tag `{}`) cannot be kept on this worker: {e}",
                    r.tag
                ),
                worker: None,
            }),
        }
    }
    (decoded, failed)
}

/// Why a received value could not be decoded.
#[derive(Debug)]
pub(crate) enum DecodeError {
    /// The value names a bulk frame the message did not carry.
    NoFrame(u32),
    /// The bytes did not decode.
    Codec(CodecError),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::NoFrame(frame) => {
                write!(
                    f,
                    "the value refers to bulk frame {frame}, which was not sent"
                )
            }
            DecodeError::Codec(e) => write!(f, "the value does not decode: {e}"),
        }
    }
}

fn decode_value(r: &BulkRef, bulk: &[Bytes]) -> Result<Value, DecodeError> {
    let bytes = bulk
        .get(r.frame as usize)
        .ok_or(DecodeError::NoFrame(r.frame))?;
    Value::decode(&r.tag, bytes).map_err(DecodeError::Codec)
}

/// Runs the data server on `listener` until dropped.
pub(crate) async fn serve(listener: Listener, store: Arc<Store>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            incoming = listener.accept() => match incoming {
                Ok(incoming) => {
                    conns.spawn(serve_peer(incoming, Arc::clone(&store)));
                }
                Err(e) => {
                    // Transient (out of file descriptors, an aborted
                    // connection): log and go on, a little later.
                    tracing::warn!("data server: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve_peer(incoming: Incoming, store: Arc<Store>) {
    let (mut conn, hello) = match incoming.handshake().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("data server: {e}");
            return;
        }
    };
    if hello.role != Role::Peer {
        tracing::warn!(
            peer = conn.peer(),
            name = hello.name,
            "data server: a {:?} connected; only peers fetch data here",
            hello.role
        );
        return;
    }
    loop {
        let request = match conn.recv::<PeerRequest>().await {
            Ok(Some(m)) => m.msg,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!("data server: {e}");
                return;
            }
        };
        let PeerRequest::GetData { keys } = request;
        let (reply, bulk) = answer(&store, keys).await;
        if let Err(e) = conn.send(&reply, &bulk).await {
            tracing::debug!("data server: {e}");
            return;
        }
    }
}

/// The answer to a `GetData` for `keys`.
pub(crate) async fn answer(store: &Arc<Store>, keys: Vec<WireKey>) -> (PeerReply, Vec<Bytes>) {
    let local: Vec<Key> = keys.iter().map(Key::from).collect();
    let missing_all = |local: &[Key]| {
        (
            PeerReply::Data {
                values: Vec::new(),
                missing: local.iter().map(WireKey::from).collect(),
            },
            Vec::new(),
        )
    };
    if store.has_spilled() {
        // Values may have to be read back from disk: off the async threads.
        let store = Arc::clone(store);
        let wanted = local.clone();
        return match tokio::task::spawn_blocking(move || {
            let entries = store.get_many(&wanted);
            encode_reply(keys, entries)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("reading or encoding values failed: {e}");
                missing_all(&local)
            }
        };
    }
    let entries = store.get_many(&local);
    let total: u64 = entries.iter().flatten().map(|e| e.nbytes).sum();
    if total > BLOCKING_BYTES {
        match tokio::task::spawn_blocking(move || encode_reply(keys, entries)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("encoding values failed: {e}");
                missing_all(&local)
            }
        }
    } else {
        encode_reply(keys, entries)
    }
}

/// Encodes the values of `keys` (`entries`, `None` where missing).
fn encode_reply(keys: Vec<WireKey>, entries: Vec<Option<Entry>>) -> (PeerReply, Vec<Bytes>) {
    let mut values = Vec::new();
    let mut missing = Vec::new();
    let mut bulk = Vec::new();
    for (wk, entry) in keys.into_iter().zip(entries) {
        let Some(entry) = entry else {
            missing.push(wk);
            continue;
        };
        match entry.value.encode() {
            Ok(e) => {
                values.push((
                    wk,
                    BulkRef {
                        frame: bulk.len() as u32,
                        tag: e.tag,
                    },
                ));
                bulk.push(Bytes::from(e.bytes));
            }
            Err(e) => {
                tracing::warn!(key = %Key::from(&wk), "a value asked for cannot be sent: {e}");
                missing.push(wk);
            }
        }
    }
    (PeerReply::Data { values, missing }, bulk)
}
