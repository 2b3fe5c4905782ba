//! The memory manager of the threads scheduler, end to end.
//!
//! Each test runs its compute in a child process — this test binary run
//! again for one test, with [`CHILD`] set — so the memory limit in its
//! environment applies to it alone and its peak memory is its own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rask_array::Array;
use rask_array::ndarray::{ArrayD, IxDyn};
use rask_core::{Executor, GraphBuilder, Key, Op, TaskError, Value};

use rask_memory::testing::{
    Children, PeakSampler, cgroup_allowance, cgroup_name, files_under, join_cgroup_named_in,
    result_field, status_bytes,
};

use crate::support::unfused_plan;

/// Names the test a child process runs.
const CHILDREN: Children = Children {
    var: "RASK_LOCAL_MEMORY_TEST_CHILD",
};

fn is_child(test: &str) -> bool {
    CHILDREN.is_child(test)
}

fn in_any_child() -> bool {
    CHILDREN.in_any_child()
}

/// Runs `test` in a child with `env`; its output (fails past 120 s).
fn run_child(test: &str, env: &[(&str, String)]) -> String {
    CHILDREN.run(test, env, Duration::from_secs(120))
}

/// A fresh spill parent directory for one test.
fn spill_parent(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-local-memory-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const LIMIT: u64 = 32 << 20;
/// Rows (time) and columns of the array: 3 × [`LIMIT`] of f64.
const ROWS: usize = 1024;
const COLS: usize = 12288;

/// Element (i, j) of the test array: exact in f64, different everywhere.
fn element(i: usize, j: usize) -> f64 {
    ((i * 7919 + j * 104_729) % 1_000_003) as f64
}

fn generated(chunks: &[usize]) -> Array<f64> {
    Array::from_fn(&[ROWS, COLS], chunks, |info| {
        ArrayD::from_shape_fn(IxDyn(&info.shape), |ix| {
            element(info.start[0] + ix[0], info.start[1] + ix[1])
        })
    })
    .expect("valid chunks")
}

/// The child of [`rechunk_of_three_times_the_limit_finishes_under_it`].
#[test]
fn rechunk_child() {
    if !is_child("memory::rechunk_child") {
        return;
    }
    let before = rask_memory::private_rss_bytes().unwrap_or(0);
    // A real limit, where the machine allows one: what the test allows
    // above the memory the process held before (which stays charged where
    // it was). Going over it is the kernel's reclaim, then its OOM killer.
    let hard = cgroup_allowance(LIMIT);
    let cgroup = join_cgroup_named_in("RASK_LOCAL_MEMORY_TEST_CGROUP", hard);
    println!("real limit: {cgroup}");
    let start = Instant::now();
    let sampler = PeakSampler::start();
    // Columns (all of time, 128 wide: 1 MiB) to rows (16 steps, all
    // columns: 1.5 MiB): every output block needs every input block.
    let x = generated(&[ROWS, 128]);
    let y = x.rechunk_with_limit(&[16, COLS], 1 << 20).unwrap();
    let z = generated(&[16, COLS]);
    let diff = (&y - &z).abs().max().compute_scalar().unwrap();
    let secs = start.elapsed().as_secs_f64();
    let peak = sampler.stop();
    let hwm = status_bytes("VmHWM").unwrap_or(0);
    let stats = rask_local::memory_stats().expect("a compute with a limit ran");
    // Every spilled value is 1 KiB or more, and the total outlives the
    // compute (its files are gone).
    assert!(
        stats.spilled_total >= stats.spills * 1024,
        "{} bytes spilled in {} values",
        stats.spilled_total,
        stats.spills
    );
    println!(
        "RESULT diff={diff} before={before} peak={peak} hwm={hwm} secs={secs:.2} limit={} spills={} reads={} \
         peak_managed={} peak_rss={}",
        stats.limit, stats.spills, stats.reads, stats.peak_managed, stats.peak_rss
    );
}

/// The test: a rechunk across time of an array three times the
/// memory limit completes with the right answer, with peak RSS within
/// 1.25 × the limit above what the test binary held before it started,
/// and leaves no spill file behind.
#[test]
fn rechunk_of_three_times_the_limit_finishes_under_it() {
    if in_any_child() {
        return;
    }
    if rask_memory::private_rss_bytes().is_none() {
        eprintln!("skipped: /proc/self/statm cannot be read here, so peak RSS cannot be measured");
        return;
    }
    let parent = spill_parent("rechunk");
    let cgroup = cgroup_name("rechunk");
    let out = run_child(
        "memory::rechunk_child",
        &[
            ("RASK_LOCAL_MEMORY_TEST_CGROUP", cgroup.clone()),
            ("RASK_MEMORY_LIMIT", format!("{LIMIT}")),
            ("RASK_NUM_WORKERS", "2".into()),
            ("RASK_PROGRESS", "off".into()),
            ("RASK_MEMORY_SPILL_DIRECTORY", parent.display().to_string()),
        ],
    );
    // The child has exited: its cgroup is empty and can go.
    for root in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"] {
        let _ = std::fs::remove_dir(Path::new(root).join(&cgroup));
    }
    // Shown with --nocapture, and in the output of a failure.
    eprintln!("{out}");
    if let Some(line) = out.lines().find(|l| l.starts_with("real limit: none")) {
        eprintln!("rechunk under a memory limit: {line}; peak RSS is still checked (sampled)");
    }
    assert_eq!(
        result_field(&out, "diff"),
        0.0,
        "the rechunked array is wrong"
    );
    assert_eq!(result_field(&out, "limit") as u64, LIMIT);
    assert!(
        result_field(&out, "spills") > 0.0,
        "nothing was spilled:\n{out}"
    );
    let before = result_field(&out, "before");
    let hwm = result_field(&out, "peak");
    // The test binary's own memory before the compute, plus thread stacks
    // and allocator arenas of the pool.
    let allowance = before + (8 << 20) as f64;
    let bound = 1.25 * LIMIT as f64 + allowance;
    assert!(
        hwm <= bound,
        "peak RSS {:.1} MiB is above 1.25 × {} MiB + {:.1} MiB\n{out}",
        hwm / 1048576.0,
        LIMIT >> 20,
        allowance / 1048576.0
    );
    assert_eq!(files_under(&parent), 0, "spill files were left behind");
    let _ = std::fs::remove_dir_all(&parent);
}

/// A value type without a codec: it cannot be spilled.
struct Opaque(#[allow(dead_code)] Vec<u8>);

/// The child of [`unspillable_values_over_the_limit_do_not_deadlock`].
#[test]
fn unspillable_child() {
    if !is_child("memory::unspillable_child") {
        return;
    }
    let mut b = GraphBuilder::new();
    let n = 24;
    for i in 0..n {
        b.insert(
            Key::new(format!("opaque-{i}")),
            Op::call("opaque", move |_: &[Value]| {
                Ok(Value::with_nbytes(Opaque(vec![1u8; 4 << 20]), 4 << 20))
            }),
            vec![],
        );
    }
    let deps: Vec<Key> = (0..n).map(|i| Key::new(format!("opaque-{i}"))).collect();
    b.insert(
        Key::new("count"),
        Op::call("count", |xs: &[Value]| {
            for (i, x) in xs.iter().enumerate() {
                x.get::<Opaque>(i)?;
            }
            Ok::<_, TaskError>(Value::new(xs.len() as u64))
        }),
        deps,
    );
    let plan = unfused_plan(b, &[Key::new("count")]);
    let out = rask_local::ThreadsExecutor::new(4)
        .unwrap()
        .execute(&plan, &[])
        .unwrap();
    let stats = rask_local::memory_stats().expect("a compute with a limit ran");
    println!(
        "RESULT count={} spills={}",
        out[0].downcast_ref::<u64>().unwrap(),
        stats.spills
    );
}

/// Values that cannot be spilled, three times the limit, all needed by one
/// task: the pause must not wait forever for memory that cannot be freed.
#[test]
fn unspillable_values_over_the_limit_do_not_deadlock() {
    if in_any_child() {
        return;
    }
    let out = run_child(
        "memory::unspillable_child",
        &[
            ("RASK_MEMORY_LIMIT", "32 MiB".into()),
            ("RASK_PROGRESS", "off".into()),
        ],
    );
    assert_eq!(result_field(&out, "count"), 24.0);
    assert_eq!(result_field(&out, "spills"), 0.0);
}

/// The child of [`an_unusable_spill_directory_fails_the_compute_by_name`].
#[test]
fn bad_spill_directory_child() {
    if !is_child("memory::bad_spill_directory_child") {
        return;
    }
    let mut b = GraphBuilder::new();
    let n = 16;
    for i in 0..n {
        b.insert(
            Key::new(format!("block-{i}")),
            Op::call("block", move |_: &[Value]| {
                Ok::<_, TaskError>(Value::new(vec![i as f64; 1 << 18]))
            }),
            vec![],
        );
    }
    let deps: Vec<Key> = (0..n).map(|i| Key::new(format!("block-{i}"))).collect();
    b.insert(
        Key::new("total"),
        Op::call("total", |xs: &[Value]| {
            let mut s = 0.0;
            for (i, x) in xs.iter().enumerate() {
                s += x.get::<Vec<f64>>(i)?.iter().sum::<f64>();
            }
            Ok::<_, TaskError>(Value::new(s))
        }),
        deps,
    );
    let plan = unfused_plan(b, &[Key::new("total")]);
    let err = rask_local::ThreadsExecutor::new(2)
        .unwrap()
        .execute(&plan, &[])
        .unwrap_err();
    println!(
        "RESULT spill_error={}",
        u8::from(matches!(err, rask_core::Error::Spill { .. }))
    );
    println!("MESSAGE {err}");
}

/// Spilling into a directory that cannot be made fails the compute with an
/// error naming the directory and the setting to change — no hang, no
/// wrong answer.
#[test]
fn an_unusable_spill_directory_fails_the_compute_by_name() {
    if in_any_child() {
        return;
    }
    let parent = spill_parent("unusable");
    std::fs::create_dir_all(&parent).unwrap();
    // A file where the spill directory should go.
    let file = parent.join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let out = run_child(
        "memory::bad_spill_directory_child",
        &[
            ("RASK_MEMORY_LIMIT", "8 MiB".into()),
            ("RASK_PROGRESS", "off".into()),
            ("RASK_MEMORY_SPILL_DIRECTORY", file.display().to_string()),
        ],
    );
    assert_eq!(result_field(&out, "spill_error"), 1.0, "{out}");
    let message = out
        .lines()
        .find_map(|l| l.find("MESSAGE").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("no MESSAGE in:\n{out}"));
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(message.contains("memory.spill-directory"), "{message}");
    let _ = std::fs::remove_dir_all(&parent);
}

/// 2 MiB whose encoder writes part of its bytes, then panics.
#[derive(Clone)]
struct Unspillable(Vec<f64>);

impl rask_core::SizeOf for Unspillable {
    fn heap_bytes(&self) -> usize {
        rask_core::SizeOf::heap_bytes(&self.0)
    }
}

impl rask_core::codec::ValueCodec for Unspillable {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&[0; 4096]);
        panic!("Unspillable refuses to be encoded")
    }
    fn encode_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        w.write_all(&[0; 4096])?;
        panic!("Unspillable refuses to be encoded")
    }
    fn decode_from(_: &[u8]) -> Result<Self, String> {
        Err("never encoded".into())
    }
}

rask_core::register_codec!(Unspillable);

/// The child of [`a_value_whose_encoder_panics_stays_in_memory`].
#[test]
fn panicking_encoder_child() {
    if !is_child("memory::panicking_encoder_child") {
        return;
    }
    let mut b = GraphBuilder::new();
    let n = 12;
    for i in 0..n {
        b.insert(
            Key::new(format!("unspillable-{i}")),
            Op::call("unspillable", move |_: &[Value]| {
                Ok::<_, TaskError>(Value::sized(Unspillable(vec![i as f64; 1 << 18])))
            }),
            vec![],
        );
    }
    let deps: Vec<Key> = (0..n)
        .map(|i| Key::new(format!("unspillable-{i}")))
        .collect();
    b.insert(
        Key::new("total"),
        Op::call("total", |xs: &[Value]| {
            let mut s = 0.0;
            for (i, x) in xs.iter().enumerate() {
                s += x.get::<Unspillable>(i)?.0.iter().sum::<f64>();
            }
            Ok::<_, TaskError>(Value::new(s))
        }),
        deps,
    );
    let plan = unfused_plan(b, &[Key::new("total")]);
    // Several computes: the memory monitor samples (and spills) too.
    for _ in 0..3 {
        let out = rask_local::ThreadsExecutor::new(2)
            .unwrap()
            .execute(&plan, &[]);
        match out {
            Ok(v) => println!("RESULT total={}", v[0].downcast_ref::<f64>().unwrap()),
            Err(e) => println!("MESSAGE {e}"),
        }
    }
}

/// A value whose encoder panics when memory is short is kept in memory, as
/// Dask keeps a value it cannot pickle: the compute finishes with the
/// right answer, stderr names the key, no panic comes out of `compute`
/// and no partial spill file is left.
#[test]
fn a_value_whose_encoder_panics_stays_in_memory() {
    if in_any_child() {
        return;
    }
    let parent = spill_parent("panicking-encoder");
    let test = "memory::panicking_encoder_child";
    let child = CHILDREN.spawn(
        test,
        &[
            ("RASK_MEMORY_LIMIT", "4 MiB".into()),
            ("RASK_PROGRESS", "off".into()),
            ("RASK_MEMORY_SPILL_DIRECTORY", parent.display().to_string()),
            // With a backtrace asked for, rask prints the panics it catches
            // (and their backtraces would fill the pipe read at the end).
            ("RUST_BACKTRACE", "0".into()),
        ],
    );
    let (status, out, err) = rask_memory::testing::wait(child, test, Duration::from_secs(120));
    assert!(status.success(), "{status}:\n{out}\n{err}");
    assert!(!out.contains("MESSAGE"), "{out}");
    // 12 × 2^18 values of i, for i in 0..12.
    let total = (0..12).sum::<usize>() as f64 * (1 << 18) as f64;
    assert_eq!(
        out.lines().filter(|l| l.contains("RESULT")).count(),
        3,
        "{out}\n{err}"
    );
    assert_eq!(result_field(&out, "total"), total, "{out}");
    assert!(
        err.contains("unspillable-") && err.contains("Unspillable refuses to be encoded"),
        "{err}"
    );
    assert!(!err.contains("thread '"), "no panic is printed:\n{err}");
    assert_eq!(files_under(&parent), 0, "no spill file is left");
    let _ = std::fs::remove_dir_all(&parent);
}

/// The child of [`a_threshold_set_in_code_out_of_range_fails_the_compute`].
#[test]
fn bad_threshold_child() {
    if !is_child("memory::bad_threshold_child") {
        return;
    }
    let _guard = rask_config::set(rask_config::Config {
        memory_limit: Some(rask_config::ByteSize(1 << 30)),
        memory_target: f64::NAN,
        ..rask_config::Config::default()
    });
    let mut b = GraphBuilder::new();
    b.insert(Key::new("x"), Op::value(Value::new(1u8)), vec![]);
    let plan = unfused_plan(b, &[Key::new("x")]);
    match rask_local::ThreadsExecutor::new(2)
        .unwrap()
        .execute(&plan, &[])
    {
        Ok(_) => println!("RESULT failed=0"),
        Err(e) => {
            println!("RESULT failed=1");
            println!("MESSAGE {e}");
        }
    }
}

/// `rask_config::set` takes a `Config` built in code, unchecked: a memory
/// threshold that is not a fraction (NaN here; 0 would spill everything)
/// fails the compute with an error naming the setting.
#[test]
fn a_threshold_set_in_code_out_of_range_fails_the_compute() {
    if in_any_child() {
        return;
    }
    let out = run_child("memory::bad_threshold_child", &[]);
    assert_eq!(result_field(&out, "failed"), 1.0, "{out}");
    assert!(out.contains("memory.target = NaN"), "{out}");
}
