//! A scheduler played by the test: it accepts workers and speaks the
//! messages by hand.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rask_core::{Key, Op, Value, wire};
use rask_protocol::{
    ComputeTask, ConnectOptions, Connection, DepLocation, ListenOptions, Listener, Message,
    PeerReply, PeerRequest, Role, SchedulerToWorker, WireKey, WorkerToScheduler, connect,
};
use rask_worker::{Worker, WorkerHandle, WorkerOptions};
use tokio::runtime::Runtime;

/// Longest wait for any message; tests never get near it unless broken.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Scheduler {
    pub rt: Runtime,
    listener: Arc<Listener>,
    pub address: String,
}

impl Scheduler {
    pub fn new() -> Scheduler {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = rt
            .block_on(Listener::bind(
                "tcp://127.0.0.1:0",
                ListenOptions {
                    name: "test-scheduler".into(),
                    ..ListenOptions::default()
                },
            ))
            .unwrap();
        let address = listener.address();
        Scheduler {
            rt,
            listener: Arc::new(listener),
            address,
        }
    }

    pub fn options(&self, nthreads: usize) -> WorkerOptions {
        WorkerOptions {
            nthreads,
            listen: "tcp://127.0.0.1:0".into(),
            ..WorkerOptions::new(self.address.clone())
        }
    }

    /// Starts accepting one worker.
    pub fn accept(&self) -> Accepting {
        let listener = Arc::clone(&self.listener);
        Accepting(
            self.rt
                .spawn(async move { listener.accept().await?.handshake().await }),
        )
    }

    /// The accepted worker's connection.
    pub fn link(&self, accepting: Accepting) -> Link<'_> {
        let (conn, hello) = self.rt.block_on(accepting.0).unwrap().unwrap();
        assert_eq!(hello.role, Role::Worker);
        Link { rt: &self.rt, conn }
    }

    /// Starts a worker and accepts it; returns the worker, the scheduler's
    /// end of its connection and its registration.
    pub fn worker(&self, opts: WorkerOptions) -> (WorkerHandle, Link<'_>, Registered) {
        let accepted = self.accept();
        let handle = Worker::start(opts).expect("the worker starts");
        let mut link = self.link(accepted);
        let registered = match link.recv() {
            WorkerToScheduler::Register {
                name,
                address,
                nthreads,
                ..
            } => Registered {
                name,
                address,
                nthreads,
            },
            other => panic!("expected Register, got {other:?}"),
        };
        (handle, link, registered)
    }

    /// A client's connection to a worker's data server.
    pub fn get_data(&self, address: &str, keys: &[&str]) -> (Vec<(WireKey, Value)>, Vec<WireKey>) {
        self.rt.block_on(async {
            let mut conn = connect(
                address,
                &ConnectOptions {
                    role: Role::Peer,
                    name: "test-client".into(),
                    ..ConnectOptions::default()
                },
            )
            .await
            .unwrap();
            let keys = keys.iter().map(|k| wk(k)).collect();
            conn.send(&PeerRequest::GetData { keys }, &[])
                .await
                .unwrap();
            let m = conn.recv::<PeerReply>().await.unwrap().unwrap();
            match m.msg {
                PeerReply::Data { values, missing } => (
                    values
                        .into_iter()
                        .map(|(k, r)| {
                            let v = Value::decode(&r.tag, &m.bulk[r.frame as usize]).unwrap();
                            (k, v)
                        })
                        .collect(),
                    missing,
                ),
                PeerReply::Busy => panic!("busy"),
            }
        })
    }
}

/// A worker being accepted.
pub struct Accepting(
    tokio::task::JoinHandle<
        Result<(Connection, rask_protocol::Hello), rask_protocol::ProtocolError>,
    >,
);

pub struct Registered {
    pub name: String,
    pub address: String,
    pub nthreads: u32,
}

/// The scheduler's end of one worker's connection.
pub struct Link<'a> {
    rt: &'a Runtime,
    pub conn: Connection,
}

impl Link<'_> {
    pub fn send(&mut self, msg: SchedulerToWorker) {
        self.send_with(msg, Vec::new());
    }

    pub fn send_with(&mut self, msg: SchedulerToWorker, bulk: Vec<Bytes>) {
        self.rt.block_on(self.conn.send(&msg, &bulk)).unwrap();
    }

    /// The next message other than a heartbeat.
    pub fn recv(&mut self) -> WorkerToScheduler {
        self.recv_full().msg
    }

    /// The next message other than a heartbeat, with its bulk frames.
    pub fn recv_full(&mut self) -> Message<WorkerToScheduler> {
        loop {
            let m = self
                .rt
                .block_on(async { tokio::time::timeout(PATIENCE, self.conn.recv()).await })
                .expect("a message from the worker in time")
                .expect("a well-formed message")
                .expect("the worker is connected");
            if !matches!(m.msg, WorkerToScheduler::Heartbeat(_)) {
                return m;
            }
        }
    }

    /// Waits for the end of the connection.
    pub fn closed(&mut self) -> bool {
        loop {
            match self
                .rt
                .block_on(async {
                    tokio::time::timeout(PATIENCE, self.conn.recv::<WorkerToScheduler>()).await
                })
                .expect("the connection ends in time")
            {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return true,
            }
        }
    }
}

pub fn wk(name: &str) -> WireKey {
    WireKey::from(&Key::new(name))
}

/// A task running `op` on `deps`.
pub fn task(name: &str, op: Op, deps: Vec<DepLocation>) -> ComputeTask {
    let key = Key::new(name);
    ComputeTask {
        op: wire::encode_op_bytes(&key, &op).unwrap(),
        key: wk(name),
        deps,
        priority: (0, 0, 0),
        resources: vec![],
        inline_limit: 1024,
    }
}

pub fn located(name: &str, nbytes: u64, who_has: &[&str]) -> DepLocation {
    DepLocation {
        key: wk(name),
        nbytes,
        who_has: who_has.iter().map(|s| s.to_string()).collect(),
    }
}

/// The inline value of a `TaskFinished`, decoded.
pub fn finished_value(m: &Message<WorkerToScheduler>, name: &str) -> Value {
    match &m.msg {
        WorkerToScheduler::TaskFinished {
            key,
            inline: Some(r),
            tag,
            ..
        } => {
            assert_eq!(key, &wk(name));
            assert_eq!(&r.tag, tag);
            Value::decode(&r.tag, &m.bulk[r.frame as usize]).unwrap()
        }
        other => panic!("expected TaskFinished of {name} with an inline value, got {other:?}"),
    }
}
