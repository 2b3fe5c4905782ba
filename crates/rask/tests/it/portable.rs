//! Graphs that leave the process: registered functions, deterministic keys,
//! encoded plans run by a separate process, and clear errors for closures
//! and bad bytes.

use std::process::Command;
use std::sync::Arc;

use proptest::prelude::*;
use rask::delayed::{Delayed, collect};
use rask::graph::{Callback, CancelToken, Executor, Op, Plan, SyncExecutor, wire};
use rask::{Annotations, Error, Value};

#[rask::remote]
fn scale(x: &[f64], by: f64) -> Vec<f64> {
    x.iter().map(|v| v * by).collect()
}

#[rask::remote]
fn total(parts: &[Vec<f64>]) -> f64 {
    parts.iter().flatten().sum()
}

#[rask::remote]
fn parse_reading(s: &str) -> Result<f64, std::num::ParseFloatError> {
    s.trim().parse()
}

#[rask::remote]
fn ramp(n: u64, seed: u64) -> Vec<f64> {
    (0..n).map(|i| ((i * 31 + seed) % 97) as f64).collect()
}

/// A pipeline of registered functions only: portable.
fn pipeline(n: u64, by: f64) -> Delayed<f64> {
    let parts: Vec<Delayed<Vec<f64>>> = (0..n)
        .map(|i| scale::delayed(ramp::delayed(100 + i, i), by))
        .collect();
    total::delayed(collect(&parts))
}

#[test]
fn registered_functions_compute_like_closures() {
    let x = pipeline(6, 0.5);
    let closures: f64 = (0..6u64)
        .map(|i| {
            (0..100 + i)
                .map(|j| ((j * 31 + i) % 97) as f64 * 0.5)
                .sum::<f64>()
        })
        .sum();
    assert_eq!(x.compute().unwrap(), closures);
    assert_eq!(x.compute_with(&rask::Scheduler::sync()).unwrap(), closures);
    assert_eq!(x.key().prefix(), "total");
}

#[test]
fn the_same_call_built_twice_has_one_key_and_runs_once() {
    let a = pipeline(4, 2.0);
    let b = pipeline(4, 2.0);
    assert_eq!(a.key(), b.key());
    assert_ne!(
        a.key(),
        pipeline(4, 3.0).key(),
        "another parameter, another key"
    );
    assert_ne!(
        a.key(),
        pipeline(5, 2.0).key(),
        "another input, another key"
    );
    // One graph: the shared calls are merged by key.
    let plan = rask::graph::pipeline::plan(&(&a, &b)).unwrap();
    let alone = rask::graph::pipeline::plan(&a).unwrap();
    assert_eq!(plan.len(), alone.len());
}

#[test]
fn a_fallible_registered_function_fails_its_task_with_its_name() {
    let ok = parse_reading::delayed(" 2.5 ".to_string());
    assert_eq!(ok.compute().unwrap(), 2.5);
    let bad = parse_reading::delayed("n/a".to_string());
    let err = bad.compute().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Task { .. }), "{msg}");
    assert!(
        msg.contains("parse_reading") && msg.contains("invalid float"),
        "{msg}"
    );
}

#[test]
fn graphs_of_registered_functions_are_portable_and_closures_are_not() {
    let plan = rask::graph::pipeline::plan(&pipeline(3, 1.0)).unwrap();
    assert!(plan.is_portable());
    let with_closure = pipeline(3, 1.0).map(|t| t * 2.0).with_name("double");
    let plan = rask::graph::pipeline::plan(&with_closure).unwrap();
    assert!(!plan.is_portable());
    let err = plan.encode().unwrap_err().to_string();
    assert!(
        err.contains("double") && err.contains("#[rask::remote]"),
        "{err}"
    );
}

/// An executor that runs nothing in this process: it encodes each plan to
/// bytes, decodes it as another process would, and runs the copy. Plugged
/// in without touching any collection.
struct OverTheWire;

impl Executor for OverTheWire {
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> rask::Result<Vec<Value>> {
        let bytes = plan.encode()?;
        let copy = Plan::decode(&bytes)?;
        let out = SyncExecutor.execute(&copy, &[])?;
        // Results come back as bytes too.
        let _ = callbacks;
        wire::decode_values(&wire::encode_values(&out)?)
    }
    fn name(&self) -> &str {
        "over-the-wire"
    }
    fn requires_portable(&self) -> bool {
        true
    }
}

#[test]
fn a_third_executor_plugs_in_and_refuses_closures_naming_the_task() {
    let x = pipeline(5, 1.5);
    let local = x.compute().unwrap();
    assert_eq!(x.compute_with(&OverTheWire).unwrap(), local);
    // The executor in force, for every collection, without naming it.
    let guard = rask::graph::executor::scoped(Arc::new(OverTheWire));
    assert_eq!(x.compute().unwrap(), local);
    let bad = x.map(|t| t + 1.0).with_name("add-one");
    let err = bad.compute().unwrap_err();
    drop(guard);
    let msg = err.to_string();
    assert!(matches!(err, Error::NotPortable { .. }), "{msg}");
    assert!(
        msg.contains("add-one") && msg.contains("#[rask::remote]"),
        "{msg}"
    );
    assert_eq!(
        bad.compute().unwrap(),
        local + 1.0,
        "closures still run locally"
    );
}

/// Entry point of the child process in
/// `an_encoded_plan_runs_in_another_process_with_equal_result_bytes`: when
/// started with `RASK_TEST_CHILD_PLAN`, it decodes the plan in that file,
/// runs it, and writes the encoded results next to it. Run normally, it has
/// nothing to do.
#[test]
fn child_process_runs_an_encoded_plan() {
    let Ok(path) = std::env::var("RASK_TEST_CHILD_PLAN") else {
        return;
    };
    let bytes = std::fs::read(&path).expect("the parent wrote the plan");
    let out = wire::run_encoded(&bytes, &rask::Scheduler::threads(2).unwrap()).unwrap();
    std::fs::write(format!("{path}.out"), out).unwrap();
}

/// Runs `plan` in a child process (this test binary, started again) and
/// returns its encoded results.
fn run_in_child(plan: &Plan, dir: &std::path::Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    std::fs::write(&path, plan.encode().unwrap()).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "portable::child_process_runs_an_encoded_plan",
            "--test-threads=1",
        ])
        .env("RASK_TEST_CHILD_PLAN", &path)
        .env("RASK_PROGRESS", "off")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the child process failed: {status}");
    std::fs::read(format!("{}.out", path.display())).unwrap()
}

#[test]
fn an_encoded_plan_runs_in_another_process_with_equal_result_bytes() {
    let dir = std::env::temp_dir().join(format!("rask-portable-child-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let x = pipeline(8, 0.25);
    let parts: Vec<Delayed<Vec<f64>>> = (0..3)
        .map(|i| scale::delayed(ramp::delayed(7, i), 3.0))
        .collect();
    for (name, plan) in [
        ("total", rask::graph::pipeline::plan(&x).unwrap()),
        ("parts", rask::graph::pipeline::plan(&parts).unwrap()),
    ] {
        let local = SyncExecutor.execute(&plan, &[]).unwrap();
        let remote = run_in_child(&plan, &dir, name);
        assert_eq!(remote, wire::encode_values(&local).unwrap(), "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retries_rerun_a_failing_task_and_priority_orders_ready_tasks() {
    use std::sync::atomic::{AtomicU32, Ordering};
    static TRIES: AtomicU32 = AtomicU32::new(0);
    let flaky = rask::try_delayed(|| {
        if TRIES.fetch_add(1, Ordering::SeqCst) < 3 {
            Err("transient")
        } else {
            Ok(1u32)
        }
    });
    assert!(
        flaky
            .with_annotations(Annotations::default().retries(1))
            .compute()
            .is_err()
    );
    TRIES.store(0, Ordering::SeqCst);
    let x = flaky.with_annotations(Annotations::default().retries(3));
    assert_eq!(
        x.compute_with(&rask::Scheduler::threads(2).unwrap())
            .unwrap(),
        1
    );

    // On one thread, the high-priority branch runs first.
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mk = |name: &'static str| {
        let order = order.clone();
        rask::delayed(move || {
            order.lock().unwrap().push(name);
            1
        })
    };
    let low = mk("low");
    let high = mk("high").with_annotations(Annotations::default().priority(10));
    rask::compute_with((&low, &high), &rask::Scheduler::sync()).unwrap();
    assert_eq!(*order.lock().unwrap(), ["high", "low"]);
}

#[test]
fn a_cancelled_compute_stops_with_cancelled() {
    let token = CancelToken::new();
    let t = token.clone();
    let parts: Vec<Delayed<u64>> = (0..10_000u64)
        .map(|i| {
            let t = t.clone();
            rask::delayed(move || {
                if i == 100 {
                    t.cancel();
                }
                i
            })
        })
        .collect();
    let sum = collect(&parts).map(|v| v.iter().sum::<u64>());
    for sched in [
        rask::Scheduler::sync(),
        rask::Scheduler::threads(2).unwrap(),
    ] {
        let err = rask::graph::pipeline::compute_cancellable(&sum, &sched, &token).unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
    }
}

#[test]
fn values_have_real_sizes_in_the_profiler() {
    let prof = rask::diagnostics::Profiler::start();
    let v = rask::delayed(|| vec![0f64; 1 << 20]).with_name("big");
    assert_eq!(v.compute().unwrap().len(), 1 << 20);
    let prof = prof.finish();
    let big = prof
        .records()
        .iter()
        .find(|r| r.key.prefix() == "big")
        .map(|r| r.nbytes);
    assert!(big.is_some_and(|b| b >= 8 << 20), "{big:?}");
}

#[test]
fn bad_bytes_are_errors_naming_what_was_wrong() {
    let plan = rask::graph::pipeline::plan(&pipeline(2, 1.0)).unwrap();
    let mut w = plan.to_wire().unwrap();
    let t = w
        .graph
        .tasks
        .iter_mut()
        .find(|t| matches!(t.op, wire::WireOp::Kernel { .. }))
        .unwrap();
    let key = t.key.name.clone();
    if let wire::WireOp::Kernel { name, .. } = &mut t.op {
        *name = "no.such.kernel".into();
    }
    let msg = Plan::from_wire(&w, None).unwrap_err().to_string();
    assert!(
        msg.contains("no.such.kernel") && msg.contains(&key),
        "{msg}"
    );
    let mut w = plan.to_wire().unwrap();
    let t = w
        .graph
        .tasks
        .iter_mut()
        // A value of more than one byte (a small integer is one byte, which
        // truncating leaves whole).
        .find(|t| matches!(&t.op, wire::WireOp::Value { bytes, .. } if bytes.len() > 1))
        .unwrap();
    let key = t.key.name.clone();
    if let wire::WireOp::Value { bytes, .. } = &mut t.op {
        bytes.truncate(1);
    }
    let msg = Plan::from_wire(&w, None).unwrap_err().to_string();
    assert!(msg.contains(&key) && msg.contains("decode"), "{msg}");
    let mut w = plan.to_wire().unwrap();
    w.graph.tasks[0].deps.push(999);
    assert!(
        Plan::from_wire(&w, None)
            .unwrap_err()
            .to_string()
            .contains("999")
    );
    // A parameter that does not decode names the kernel.
    let mut w = plan.to_wire().unwrap();
    for t in &mut w.graph.tasks {
        if let wire::WireOp::Kernel { params, .. } = &mut t.op {
            params.extend_from_slice(&[1, 2, 3]);
        }
    }
    let msg = Plan::from_wire(&w, None).unwrap_err().to_string();
    assert!(
        msg.contains("parameters") && msg.contains("left over"),
        "{msg}"
    );
    assert!(Op::value(Value::new(1u8)).is_portable());
}

/// Cases per fuzz property: `RASK_FUZZ_CASES` (default 256, a short run for
/// CI); `RASK_FUZZ_CASES=200000 cargo test -p rask --test it fuzz_` is a
/// long one.
fn fuzz_cases() -> u32 {
    std::env::var("RASK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Valid encodings to mutate: a plan of registered functions with values,
/// fused steps and an annotation, and its results.
fn seeds() -> (Vec<u8>, Vec<u8>) {
    let x = pipeline(3, 0.5).with_annotations(Annotations::default().retries(1));
    let plan = rask::graph::pipeline::plan(&x).unwrap();
    let values = SyncExecutor.execute(&plan, &[]).unwrap();
    (
        plan.encode().unwrap(),
        wire::encode_values(&values).unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases()))]

    /// Valid plan and value encodings with bytes overwritten, inserted or
    /// cut never make a decoder panic.
    #[test]
    fn fuzz_mutated_encodings_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let (plan, values) = seeds();
        for mut bytes in [plan, values] {
            for (at, byte, kind) in &edits {
                let i = at.index(bytes.len().max(1));
                match kind {
                    0 if !bytes.is_empty() => {
                        let last = bytes.len() - 1;
                        bytes[i.min(last)] = *byte;
                    }
                    1 => bytes.insert(i.min(bytes.len()), *byte),
                    _ if !bytes.is_empty() => {
                        bytes.truncate(i.min(bytes.len() - 1));
                    }
                    _ => {}
                }
            }
            // Decoding is what is fuzzed; a plan that decodes is not run, as
            // its functions would get arbitrary inputs (`ramp(2^60, …)`).
            let _ = Plan::decode(&bytes);
            let _ = wire::decode_values(&bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Keys are a function of the work: equal builds agree, different
    /// parameters never collide.
    #[test]
    fn keys_follow_the_work(a in 0u64..50, b in 0u64..50, x in -1e6f64..1e6, y in -1e6f64..1e6) {
        let k = |n: u64, by: f64| scale::delayed(ramp::delayed(n, 1), by).key().clone();
        prop_assert_eq!(k(a, x), k(a, x));
        if a != b || x.to_bits() != y.to_bits() {
            prop_assert_ne!(k(a, x), k(b, y));
        }
    }

    /// Decoders never panic on arbitrary bytes.
    #[test]
    fn fuzz_decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Plan::decode(&bytes);
        let _ = rask::graph::Graph::decode(&bytes);
        let _ = wire::decode_values(&bytes);
        for tag in [
            std::any::type_name::<Vec<f64>>(),
            std::any::type_name::<String>(),
            std::any::type_name::<rask::array::ndarray::ArrayD<f64>>(),
            std::any::type_name::<rask::array::ndarray::ArrayD<bool>>(),
            std::any::type_name::<(String, f64)>(),
        ] {
            let _ = Value::decode(tag, &bytes);
        }
        for k in rask::graph::kernel::registered() {
            let _ = rask::graph::kernel::decode(k, &bytes);
        }
    }
}

/// An executor that keeps persisted results "elsewhere" (a map standing for
/// a cluster's memory) and hands back references to them.
type Store = Arc<std::sync::Mutex<std::collections::HashMap<rask::Key, Value>>>;

#[derive(Default)]
struct Keeper {
    kept: Store,
}

/// A reference to a result kept by a [`Keeper`].
struct KeptRef {
    key: rask::Key,
    kept: Store,
}

impl rask::graph::Held for KeptRef {
    fn key(&self) -> &rask::Key {
        &self.key
    }
    fn executor(&self) -> &str {
        "keeper"
    }
    fn fetch(&self) -> Result<Value, rask::TaskError> {
        let kept = self.kept.lock().unwrap();
        kept.get(&self.key)
            .cloned()
            .ok_or_else(|| rask::TaskError::failed(format!("{} was released", self.key)))
    }
}

impl Executor for Keeper {
    fn execute(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> rask::Result<Vec<Value>> {
        SyncExecutor.execute(plan, callbacks)
    }
    fn name(&self) -> &str {
        "keeper"
    }
    fn persist(&self, plan: &Plan, callbacks: &[&dyn Callback]) -> rask::Result<Vec<Op>> {
        let values = self.execute(plan, callbacks)?;
        let mut kept = self.kept.lock().unwrap();
        Ok(plan
            .outputs
            .iter()
            .zip(values)
            .map(|(o, v)| {
                let key = plan.graph.task(*o).key.clone();
                kept.insert(key.clone(), v);
                Op::held(Arc::new(KeptRef {
                    key,
                    kept: self.kept.clone(),
                }))
            })
            .collect())
    }
    fn release(&self, keys: &[rask::Key]) -> rask::Result<()> {
        let mut kept = self.kept.lock().unwrap();
        for k in keys {
            kept.remove(k);
        }
        Ok(())
    }
}

#[test]
fn persist_keeps_results_where_the_executor_holds_them() {
    let keeper = Keeper::default();
    let x = pipeline(3, 2.0);
    let want = x.compute().unwrap();
    let kept = x.persist_with(&keeper).unwrap();
    assert_eq!(kept.key(), x.key(), "a persisted value keeps its key");
    assert_eq!(keeper.kept.lock().unwrap().len(), 1);
    // Later graphs read the held result; its plan says where it is.
    let y = kept.map(|t| t + 1.0);
    assert_eq!(y.compute().unwrap(), want + 1.0);
    let plan = rask::graph::pipeline::plan(&kept).unwrap();
    let w = plan.to_wire().unwrap();
    assert!(matches!(w.graph.tasks[0].op, wire::WireOp::Held { .. }));
    assert!(Plan::from_wire(&w, None).is_err(), "no resolver, no data");
    // Released, it is gone, and a compute that needs it says so.
    keeper.release(std::slice::from_ref(x.key())).unwrap();
    let msg = y.compute().unwrap_err().to_string();
    assert!(msg.contains("released"), "{msg}");
}

fn remote_entry<F: 'static>(_: F) -> Option<&'static rask::graph::kernel::RemoteFn> {
    rask::graph::kernel::remote_fn::<F>()
}

#[test]
fn remote_functions_are_found_from_the_function_item() {
    let e = remote_entry(scale).expect("scale is registered");
    assert_eq!(e.kernel, scale::NAME);
    assert!(!e.fallible);
    assert!(remote_entry(parse_reading).unwrap().fallible);
    fn plain(x: &u64) -> u64 {
        *x
    }
    assert!(remote_entry(plain).is_none());
}
