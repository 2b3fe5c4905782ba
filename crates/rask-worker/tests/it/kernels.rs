//! Tiny registered kernels for the tests.

use std::collections::HashMap;
use std::sync::{Condvar, LazyLock, Mutex};
use std::time::Duration;

use rask_core::{Kernel, TaskError, Value};

/// Adds one to its `u64` argument.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Inc;

impl Kernel for Inc {
    const NAME: &'static str = "rask_worker_tests.inc";
    fn run(&self, args: &[Value]) -> Result<Value, TaskError> {
        let x: &u64 = args[0].get(0)?;
        Ok(Value::new(x + 1))
    }
}

/// Panics with its message.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Explode {
    pub message: String,
}

impl Kernel for Explode {
    const NAME: &'static str = "rask_worker_tests.explode";
    fn run(&self, _args: &[Value]) -> Result<Value, TaskError> {
        panic!("{}", self.message)
    }
}

/// Waits until the gate of its name opens (at most 10 s), then returns 0.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Gate {
    pub name: String,
}

static GATES: LazyLock<(Mutex<HashMap<String, bool>>, Condvar)> =
    LazyLock::new(|| (Mutex::new(HashMap::new()), Condvar::new()));

/// Opens the gate `name`.
pub fn open_gate(name: &str) {
    let (gates, cv) = &*GATES;
    gates.lock().unwrap().insert(name.to_string(), true);
    cv.notify_all();
}

impl Kernel for Gate {
    const NAME: &'static str = "rask_worker_tests.gate";
    fn run(&self, _args: &[Value]) -> Result<Value, TaskError> {
        let (gates, cv) = &*GATES;
        let guard = gates.lock().unwrap();
        let (_guard, timeout) = cv
            .wait_timeout_while(guard, Duration::from_secs(10), |g| {
                !g.get(&self.name).copied().unwrap_or(false)
            })
            .unwrap();
        if timeout.timed_out() {
            return Err(TaskError::failed("the gate never opened"));
        }
        Ok(Value::new(0u64))
    }
}

/// A type with no codec: it cannot leave the worker.
pub struct Opaque;

/// Returns an [`Opaque`].
#[derive(serde::Serialize, serde::Deserialize)]
pub struct MakeOpaque;

impl Kernel for MakeOpaque {
    const NAME: &'static str = "rask_worker_tests.make_opaque";
    fn run(&self, _args: &[Value]) -> Result<Value, TaskError> {
        Ok(Value::new(Opaque))
    }
}

/// A vector of `len` copies of `x`.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Fill {
    pub len: usize,
    pub x: f64,
}

impl Kernel for Fill {
    const NAME: &'static str = "rask_worker_tests.fill";
    fn run(&self, _args: &[Value]) -> Result<Value, TaskError> {
        Ok(Value::new(vec![self.x; self.len]))
    }
}

rask_core::register_kernel!(Inc, Explode, Gate, MakeOpaque, Fill);
