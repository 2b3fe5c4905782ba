//! Graphs and plans as bytes: how work leaves the process.
//!
//! A portable [`Plan`] (or [`Graph`]) encodes to bytes with postcard: every
//! task's key, dependencies and annotations, and its operation as data — a
//! kernel's registry name and encoded parameters, a value's type tag and
//! encoded bytes, a held result's key, or the steps of a fused program. A
//! rask process of the same build decodes the bytes back into a plan it can
//! run: kernels are looked up in its registry, values are decoded by their
//! tags. Encoding a graph that holds a closure fails with
//! [`Error::NotPortable`] naming the first such task and how to fix it.
//!
//! Decoding checks everything it is given — unknown kernels or value tags,
//! parameters or values that do not decode, dependency ids out of range,
//! cycles, a priority list that is not a permutation — and answers with an
//! [`Error`] naming the task; it never panics.
//!
//! ```
//! use rask_core::{GraphBuilder, Key, Op, Plan, PlanOptions, Value};
//! let mut b = GraphBuilder::new();
//! b.insert(Key::new("x"), Op::value(Value::new(vec![1.0f64, 2.0])), vec![]);
//! let plan = Plan::new(b, &[Key::new("x")], PlanOptions::default()).unwrap();
//! let bytes = plan.encode().unwrap();
//! let back = Plan::decode(&bytes).unwrap();
//! assert_eq!(back.graph.task(back.outputs[0]).key, Key::new("x"));
//! assert!(Plan::decode(&bytes[..bytes.len() / 2]).is_err());
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::annotations::Annotations;
use crate::error::{Error, Result};
use crate::graph::{Arg, Graph, Op, Program, Step, Task, TaskId};
use crate::key::Key;
use crate::plan::Plan;
use crate::value::Value;

/// Format version of encoded graphs; decoding refuses other versions.
pub const WIRE_VERSION: u32 = 1;

/// A key on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WireKey {
    /// The name.
    pub name: String,
    /// The block index.
    pub index: Vec<u32>,
}

impl From<&Key> for WireKey {
    fn from(k: &Key) -> Self {
        WireKey {
            name: k.name().to_string(),
            index: k.index().to_vec(),
        }
    }
}

impl From<&WireKey> for Key {
    fn from(k: &WireKey) -> Self {
        if k.index.is_empty() {
            Key::new(k.name.as_str())
        } else {
            Key::with_index(k.name.as_str(), &k.index)
        }
    }
}

/// An operation on the wire.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum WireOp {
    /// A value: its type's tag and encoded bytes.
    Value {
        /// The type tag.
        tag: String,
        /// The encoded value.
        bytes: Vec<u8>,
    },
    /// A kernel: its registry name, parameters and display name.
    Kernel {
        /// The registry name.
        name: String,
        /// The display name.
        label: String,
        /// Whether the task is blockwise.
        blockwise: bool,
        /// Encoded parameters.
        params: Vec<u8>,
    },
    /// Data held by an executor under this key.
    Held {
        /// The key it is held under.
        key: WireKey,
    },
    /// A fused program.
    Fused {
        /// The steps, in execution order.
        steps: Vec<WireStep>,
    },
}

/// One step of a fused program on the wire.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireStep {
    /// The step's original key.
    pub key: WireKey,
    /// Its operation.
    pub op: WireOp,
    /// Its arguments: `(false, i)` is the fused task's input `i`, `(true, j)`
    /// the result of step `j`.
    pub args: Vec<(bool, u32)>,
}

/// A task on the wire.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireTask {
    /// Its key.
    pub key: WireKey,
    /// Its operation.
    pub op: WireOp,
    /// Its dependencies, as positions in the task list.
    pub deps: Vec<u32>,
    /// Its annotations.
    pub annotations: Option<Annotations>,
}

/// A graph on the wire.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireGraph {
    /// [`WIRE_VERSION`].
    pub version: u32,
    /// The tasks.
    pub tasks: Vec<WireTask>,
}

/// A plan on the wire.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WirePlan {
    /// The graph.
    pub graph: WireGraph,
    /// The requested tasks.
    pub outputs: Vec<u32>,
    /// Priority of each task.
    pub priority: Vec<u32>,
}

/// Resolves held keys to operations when decoding (a worker knows what it
/// holds; a plain decode refuses held data).
pub type HeldResolver<'a> = &'a dyn Fn(&Key) -> Option<Op>;

fn encode_op(key: &Key, op: &Op) -> Result<WireOp> {
    let not_portable = |reason: String| Error::NotPortable {
        key: key.clone(),
        op: op.name().to_string(),
        reason,
    };
    Ok(match op {
        Op::Value(v) => {
            let e = v.encode().map_err(|e| not_portable(e.to_string()))?;
            WireOp::Value {
                tag: e.tag,
                bytes: e.bytes,
            }
        }
        Op::Kernel(k) => WireOp::Kernel {
            name: k.kernel().kernel_name().to_string(),
            label: k.label().to_string(),
            blockwise: k.is_blockwise(),
            params: k
                .kernel()
                .encode_params()
                .map_err(|e| not_portable(format!("its parameters do not encode: {e}")))?,
        },
        Op::Held(h) => WireOp::Held {
            key: h.key().into(),
        },
        Op::Call(_) => {
            return Err(not_portable(
                op.non_portable_reason()
                    .unwrap_or_else(|| "a closure".into()),
            ));
        }
        Op::Fused(p) => WireOp::Fused {
            steps: p
                .steps()
                .iter()
                .map(|s| {
                    Ok(WireStep {
                        key: (&s.key).into(),
                        op: encode_op(&s.key, &s.op)?,
                        args: s
                            .args
                            .iter()
                            .map(|a| match *a {
                                Arg::Input(i) => (false, i),
                                Arg::Step(j) => (true, j),
                            })
                            .collect(),
                    })
                })
                .collect::<Result<_>>()?,
        },
    })
}

fn decode_op(key: &Key, op: &WireOp, held: Option<HeldResolver<'_>>) -> Result<Op> {
    let bad = |message: String| Error::Decode {
        what: format!("the operation of task {key}"),
        message,
    };
    Ok(match op {
        WireOp::Value { tag, bytes } => {
            Op::value(Value::decode(tag, bytes).map_err(|e| bad(e.to_string()))?)
        }
        WireOp::Kernel {
            name,
            label,
            blockwise,
            params,
        } => {
            let k = crate::kernel::decode(name, params).map_err(|e| bad(e.to_string()))?;
            let op = Op::from_kernel(k, *blockwise);
            if op.name() == label {
                op
            } else {
                op.renamed(label.clone())
            }
        }
        WireOp::Held { key: hk } => {
            let hk: Key = hk.into();
            held.and_then(|r| r(&hk)).ok_or_else(|| {
                bad(format!(
                    "it refers to {hk}, data held by an executor that this process cannot reach"
                ))
            })?
        }
        WireOp::Fused { steps } => {
            let steps = steps
                .iter()
                .map(|s| {
                    let k: Key = (&s.key).into();
                    Ok(Step {
                        op: decode_op(&k, &s.op, held)?,
                        key: k,
                        args: s
                            .args
                            .iter()
                            .map(|&(step, i)| if step { Arg::Step(i) } else { Arg::Input(i) })
                            .collect(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Op::Fused(Arc::new(
                Program::new(steps).map_err(|e| bad(e.to_string()))?,
            ))
        }
    })
}

/// One task's operation as bytes (postcard of its [`WireOp`]), for a
/// scheduler that forwards operations without decoding them; fails with
/// [`Error::NotPortable`] for a closure.
///
/// ```
/// use rask_core::{Key, Op, Value, wire};
/// let key = Key::new("x");
/// let bytes = wire::encode_op_bytes(&key, &Op::value(Value::new(vec![1u8, 2]))).unwrap();
/// let op = wire::decode_op_bytes(&key, &bytes, None).unwrap();
/// let v = op.run(&key, &[]).unwrap();
/// assert_eq!(v.downcast_ref::<Vec<u8>>(), Some(&vec![1u8, 2]));
/// ```
pub fn encode_op_bytes(key: &Key, op: &Op) -> Result<Vec<u8>> {
    to_bytes(&encode_op(key, op)?, "an operation")
}

/// Decodes bytes of [`encode_op_bytes`] into an operation of this process:
/// kernels are looked up in the registry, values decoded by their tags, held
/// keys resolved by `held`. Bad bytes give an [`Error::Decode`] naming the
/// task; never a panic.
pub fn decode_op_bytes(key: &Key, bytes: &[u8], held: Option<HeldResolver<'_>>) -> Result<Op> {
    let op: WireOp = from_bytes(bytes, &format!("the operation of task {key}"))?;
    decode_op(key, &op, held)
}

impl Graph {
    /// The graph in its wire form; fails on the first non-portable task.
    pub fn to_wire(&self) -> Result<WireGraph> {
        let tasks = self
            .tasks()
            .iter()
            .map(|t| {
                Ok(WireTask {
                    key: (&t.key).into(),
                    op: encode_op(&t.key, &t.op)?,
                    deps: t.deps.iter().map(|d| d.0).collect(),
                    annotations: t.annotations.as_deref().cloned(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(WireGraph {
            version: WIRE_VERSION,
            tasks,
        })
    }

    /// A graph from its wire form, checked (see the module docs).
    pub fn from_wire(wire: &WireGraph, held: Option<HeldResolver<'_>>) -> Result<Graph> {
        if wire.version != WIRE_VERSION {
            return Err(Error::Decode {
                what: "a graph".into(),
                message: format!(
                    "it has format version {}, this build reads version {WIRE_VERSION}",
                    wire.version
                ),
            });
        }
        let n = wire.tasks.len();
        let tasks = wire
            .tasks
            .iter()
            .map(|t| {
                let key: Key = (&t.key).into();
                if let Some(&d) = t.deps.iter().find(|&&d| d as usize >= n) {
                    return Err(Error::Decode {
                        what: format!("task {key}"),
                        message: format!("it depends on task {d}, but the graph has {n} tasks"),
                    });
                }
                Ok(Task {
                    op: decode_op(&key, &t.op, held)?,
                    key,
                    deps: t.deps.iter().map(|&d| TaskId(d)).collect(),
                    annotations: t.annotations.clone().map(Arc::new),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Graph::from_tasks(tasks)
    }

    /// The graph as bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        to_bytes(&self.to_wire()?, "graph")
    }

    /// A graph from bytes made by [`Graph::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Graph> {
        Graph::from_wire(&from_bytes::<WireGraph>(bytes, "graph")?, None)
    }
}

impl Plan {
    /// The plan in its wire form; fails on the first non-portable task.
    pub fn to_wire(&self) -> Result<WirePlan> {
        Ok(WirePlan {
            graph: self.graph.to_wire()?,
            outputs: self.outputs.iter().map(|o| o.0).collect(),
            priority: self.priority.clone(),
        })
    }

    /// A plan from its wire form, checked; `held` resolves keys of data held
    /// by an executor.
    pub fn from_wire(wire: &WirePlan, held: Option<HeldResolver<'_>>) -> Result<Plan> {
        let graph = Graph::from_wire(&wire.graph, held)?;
        let n = graph.len();
        let bad = |message: String| Error::Decode {
            what: "a plan".into(),
            message,
        };
        if let Some(&o) = wire.outputs.iter().find(|&&o| o as usize >= n) {
            return Err(bad(format!("output {o} is not among its {n} tasks")));
        }
        if wire.priority.len() != n {
            return Err(bad(format!(
                "{} priorities for {n} tasks",
                wire.priority.len()
            )));
        }
        let mut seen = vec![false; n];
        for &p in &wire.priority {
            match seen.get_mut(p as usize) {
                Some(s) if !*s => *s = true,
                _ => return Err(bad("the priorities are not a permutation".into())),
            }
        }
        for (i, t) in graph.tasks().iter().enumerate() {
            if t.deps
                .iter()
                .any(|d| wire.priority[d.index()] >= wire.priority[i])
            {
                return Err(bad(format!(
                    "task {} is ordered before one of its dependencies",
                    t.key
                )));
            }
        }
        Ok(Plan {
            graph,
            outputs: wire.outputs.iter().map(|&o| TaskId(o)).collect(),
            priority: wire.priority.clone(),
        })
    }

    /// The plan as bytes; fails with [`Error::NotPortable`] on the first
    /// task that cannot leave the process.
    pub fn encode(&self) -> Result<Vec<u8>> {
        to_bytes(&self.to_wire()?, "plan")
    }

    /// A plan from bytes made by [`Plan::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Plan> {
        Plan::from_wire(&from_bytes::<WirePlan>(bytes, "plan")?, None)
    }
}

/// Encodes any wire structure with postcard.
pub fn to_bytes<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    postcard::to_allocvec(value)
        .map_err(|e| Error::Scheduler(format!("cannot encode the {what}: {e}")))
}

/// Decodes a wire structure; trailing bytes are an error.
pub fn from_bytes<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    let (v, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| Error::Decode {
        what: format!("a {what}"),
        message: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(Error::Decode {
            what: format!("a {what}"),
            message: format!("{} bytes left over", rest.len()),
        });
    }
    Ok(v)
}

/// Results as bytes: each output's encoded value, for a process that ran a
/// decoded plan to send back.
pub fn encode_values(values: &[Value]) -> Result<Vec<u8>> {
    let encoded = values
        .iter()
        .map(|v| {
            v.encode()
                .map_err(|e| Error::Scheduler(format!("a result cannot be encoded: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    to_bytes(&encoded, "values")
}

/// What a process that receives work does with it: decodes the plan in
/// `bytes`, runs it on `executor`, and returns the outputs' values encoded
/// with [`encode_values`].
///
/// ```
/// use rask_core::{GraphBuilder, Key, Op, Plan, PlanOptions, Value, wire};
/// # struct Inline;
/// # impl rask_core::Executor for Inline {
/// #     fn execute(&self, plan: &Plan, _: &[&dyn rask_core::Callback]) -> rask_core::Result<Vec<Value>> {
/// #         plan.outputs.iter().map(|o| { let t = plan.graph.task(*o); t.run(&[]) }).collect()
/// #     }
/// #     fn name(&self) -> &str { "inline" }
/// # }
/// let mut b = GraphBuilder::new();
/// b.insert(Key::new("x"), Op::value(Value::new(7u64)), vec![]);
/// let plan = Plan::new(b, &[Key::new("x")], PlanOptions::default()).unwrap();
/// let out = wire::run_encoded(&plan.encode().unwrap(), &Inline).unwrap();
/// assert_eq!(wire::decode_values(&out).unwrap()[0].downcast_ref::<u64>(), Some(&7));
/// ```
pub fn run_encoded<E: crate::Executor + ?Sized>(bytes: &[u8], executor: &E) -> Result<Vec<u8>> {
    let plan = Plan::decode(bytes)?;
    encode_values(&executor.execute(&plan, &[])?)
}

/// Values from bytes made by [`encode_values`].
pub fn decode_values(bytes: &[u8]) -> Result<Vec<Value>> {
    let encoded: Vec<crate::codec::EncodedValue> = from_bytes(bytes, "list of values")?;
    encoded
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Value::decode(&e.tag, &e.bytes).map_err(|err| Error::Decode {
                what: format!("value {i}"),
                message: err.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GraphBuilder, PlanOptions};

    #[test]
    fn closures_are_refused_with_the_task_named() {
        let mut b = GraphBuilder::new();
        b.insert(Key::new("a-1"), Op::value(Value::new(1i64)), vec![]);
        b.insert(
            Key::new("inc-2"),
            Op::call("inc", |a: &[Value]| Ok(Value::new(a[0].get::<i64>(0)? + 1))),
            vec![Key::new("a-1")],
        );
        let plan = Plan::new(b, &[Key::new("inc-2")], PlanOptions { fuse: false }).unwrap();
        let err = plan.encode().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::NotPortable { .. }), "{msg}");
        assert!(
            msg.contains("inc-2") && msg.contains("rask::remote"),
            "{msg}"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut b = GraphBuilder::new();
        b.insert(
            Key::with_index("x-1", &[0, 1]),
            Op::value(Value::new(vec![1u64, 2])),
            vec![],
        );
        let plan = Plan::new(
            b,
            &[Key::with_index("x-1", &[0, 1])],
            PlanOptions::default(),
        )
        .unwrap();
        let bytes = plan.encode().unwrap();
        for i in 0..bytes.len() {
            let _ = Plan::decode(&bytes[..i]);
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x5a;
            let _ = Plan::decode(&flipped);
        }
        assert!(Plan::decode(&bytes).is_ok());
    }
}
