//! Shuffles of dataframes larger than the memory limit, end to end: a hash
//! shuffle and a `set_index` of a generated frame three times the limit
//! finish with the right rows, under a real memory limit, and leave no
//! spill file behind.
//!
//! Each test runs its compute in a child process — this test binary run
//! again for one test, with [`CHILD`] set — so the memory limit in its
//! environment applies to it alone and its peak RSS (`VmHWM`) is its own.
//! The child joins a memory cgroup of 1.25 × the limit (plus a little for
//! thread stacks and allocator arenas) where the machine allows it, so
//! going over is an OOM kill, i.e. a failure. The same pattern as the
//! rechunk test of `rask-local` (`tests/it/memory.rs`).
//!
//! The oracle is Polars on the same generated partitions, one at a time in
//! the parent: row count, column sums, a sum that ties columns of a row
//! together, and the number of distinct keys. With those equal, a shuffle
//! kept every row; each key in one output partition only is checked by
//! summing the partitions' distinct keys, and a `set_index` by each
//! partition being sorted and the partitions in order.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd};
use rask_memory::testing::{
    Children, PeakSampler, cgroup_allowance, cgroup_name, files_under, join_cgroup_named_in,
    remove_cgroup, result_field, status_bytes, wait,
};

/// Names the test a child process runs.
const CHILDREN: Children = Children {
    var: "DATAFRAME_MEMORY_TEST_CHILD",
};

fn is_child(test: &str) -> bool {
    CHILDREN.is_child(test)
}

fn in_any_child() -> bool {
    CHILDREN.in_any_child()
}

/// The memory limit of the children.
const LIMIT: u64 = 64 << 20;
/// Partitions of the generated frame.
const NPARTS: usize = 48;
/// Rows per partition: 8 `i64` columns make 4 MiB, so [`NPARTS`] of them
/// are 3 × [`LIMIT`].
const ROWS: usize = 65_536;
/// Distinct keys (`k` is in `0..KEYS`).
const KEYS: u64 = 1 << 16;
/// The payload columns, next to the key `k`.
const PAYLOAD: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

/// A 64-bit mix of `x` (SplitMix64's finalizer).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Partition `p` of the generated frame: a key `k` in `0..KEYS` and seven
/// payload columns below 2^20, all from the row's global index.
fn partition(p: usize) -> DataFrame {
    let rows = (p * ROWS) as u64..((p + 1) * ROWS) as u64;
    let k: Vec<i64> = rows.clone().map(|g| (mix(g) % KEYS) as i64).collect();
    let mut columns = vec![Column::new("k".into(), k)];
    for (c, name) in PAYLOAD.iter().enumerate() {
        let v: Vec<i64> = rows
            .clone()
            .map(|g| (mix(g ^ ((c as u64 + 1) << 56)) >> 44) as i64)
            .collect();
        columns.push(Column::new((*name).into(), v));
    }
    DataFrame::new(ROWS, columns).expect("columns of equal length")
}

/// The generated frame as a lazy dataframe: each partition is made by a
/// task, so the whole frame never exists at once.
fn generated() -> dd::DataFrame {
    let parts: Vec<_> = (0..NPARTS)
        .map(|p| rask_delayed::delayed(move || partition(p)))
        .collect();
    let schema = (**partition(0).slice(0, 0).schema()).clone();
    dd::from_delayed(&parts, Some(schema)).expect("partitions given")
}

/// One row of figures of a frame: rows, the sums of every column, the sum
/// of `k × a` (ties the key to its row), distinct keys, the smallest and
/// largest key, and whether `k` never goes down.
fn figures(df: DataFrame) -> PolarsResult<DataFrame> {
    let k = df.column("k")?.i64()?.clone();
    let ascending = k
        .iter()
        .zip(k.iter().skip(1))
        .all(|(x, y)| x.unwrap_or(i64::MIN) <= y.unwrap_or(i64::MIN));
    let mut exprs = vec![
        len().cast(DataType::Int64).alias("rows"),
        (col("k") * col("a")).sum().alias("ka"),
        col("k").n_unique().cast(DataType::Int64).alias("nunique"),
        col("k").min().alias("min"),
        col("k").max().alias("max"),
        lit(ascending).alias("ascending"),
    ];
    exprs.extend(
        ["k"]
            .iter()
            .chain(PAYLOAD.iter())
            .map(|c| col(*c).sum().alias(format!("sum_{c}"))),
    );
    df.lazy().select(exprs).collect()
}

/// The figures every partition of a correct shuffle adds up to.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    rows: i64,
    ka: i64,
    sums: Vec<i64>,
}

fn int(df: &DataFrame, name: &str, row: usize) -> i64 {
    df.column(name)
        .and_then(|c| c.get(row))
        .ok()
        .and_then(|v| v.extract::<i64>())
        .unwrap_or_else(|| panic!("no integer {name} in row {row} of\n{df}"))
}

/// The totals of the rows of `figures` (one row per partition).
fn totals(figures: &DataFrame) -> Totals {
    let mut t = Totals {
        sums: vec![0; 1 + PAYLOAD.len()],
        ..Totals::default()
    };
    for r in 0..figures.height() {
        t.rows += int(figures, "rows", r);
        t.ka += int(figures, "ka", r);
        for (s, c) in t.sums.iter_mut().zip(["k"].iter().chain(PAYLOAD.iter())) {
            *s += int(figures, &format!("sum_{c}"), r);
        }
    }
    t
}

/// The oracle: Polars on the generated partitions, one at a time; and the
/// number of distinct keys of the whole frame.
fn expected() -> (Totals, usize) {
    let mut rows = Vec::new();
    let mut keys = HashSet::new();
    for p in 0..NPARTS {
        let df = partition(p);
        keys.extend(df.column("k").unwrap().i64().unwrap().into_no_null_iter());
        rows.push(figures(df).unwrap());
    }
    let mut all = rows.remove(0);
    for r in rows {
        all.vstack_mut_owned(r).unwrap();
    }
    (totals(&all), keys.len())
}

/// The child's side: joins the cgroup named in the environment, runs
/// `shuffled` on the generated frame, and prints the figures of every
/// output partition and its memory.
fn child(shuffled: impl FnOnce(dd::DataFrame) -> dd::DataFrame) {
    let before = rask_memory::private_rss_bytes().unwrap_or(0);
    // What the test allows above the memory the process held before
    // (which stays charged where it was).
    let hard = cgroup_allowance(LIMIT);
    let cgroup = join_cgroup_named_in("DATAFRAME_MEMORY_TEST_CGROUP", hard);
    println!("real limit: {cgroup}");
    let start = Instant::now();
    let peak = PeakSampler::start();
    let figures = shuffled(generated())
        .map_partitions(figures, None)
        .compute()
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let peak = peak.stop();
    let hwm = status_bytes("VmHWM").unwrap_or(0);
    let stats = rask_local::memory_stats().expect("a compute with a limit ran");
    for r in 0..figures.height() {
        let f = |n: &str| int(&figures, n, r);
        println!(
            "PART rows={} ka={} nunique={} min={} max={} ascending={} sums={}",
            f("rows"),
            f("ka"),
            f("nunique"),
            figures.column("min").unwrap().get(r).unwrap(),
            figures.column("max").unwrap().get(r).unwrap(),
            figures.column("ascending").unwrap().get(r).unwrap(),
            ["k"]
                .iter()
                .chain(PAYLOAD.iter())
                .map(|c| f(&format!("sum_{c}")).to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    println!(
        "RESULT before={before} peak={peak} hwm={hwm} secs={secs:.2} limit={} spills={} reads={} \
         peak_managed={} peak_rss={}",
        stats.limit, stats.spills, stats.reads, stats.peak_managed, stats.peak_rss
    );
}

/// One output partition's figures, as the child printed them.
#[derive(Debug)]
struct Part {
    rows: i64,
    ka: i64,
    nunique: i64,
    min: Option<i64>,
    max: Option<i64>,
    ascending: bool,
    sums: Vec<i64>,
}

fn parts(out: &str) -> Vec<Part> {
    out.lines()
        .filter_map(|l| l.strip_prefix("PART "))
        .map(|l| {
            let get = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
                    .unwrap_or_else(|| panic!("no {name}= in {l}"))
            };
            let num = |name: &str| get(name).parse::<i64>().ok();
            Part {
                rows: num("rows").unwrap(),
                ka: num("ka").unwrap(),
                nunique: num("nunique").unwrap(),
                min: num("min"),
                max: num("max"),
                ascending: get("ascending") == "true",
                sums: get("sums").split(',').map(|s| s.parse().unwrap()).collect(),
            }
        })
        .collect()
}

/// Runs the test `test` of this binary in a child process under the memory
/// limit; returns its output, failing when it fails or runs past 300 s.
/// Checks what every shuffle must give: all the rows (the oracle's totals),
/// peak RSS within 1.25 × the limit above what the child held before, and
/// no spill file left.
fn run_child(test: &str) -> (String, Vec<Part>, usize) {
    let parent = std::env::temp_dir().join(format!(
        "rask-dataframe-memory-{}-{}",
        std::process::id(),
        test.replace("::", "-")
    ));
    let _ = std::fs::remove_dir_all(&parent);
    let cgroup = cgroup_name(test);
    let child = CHILDREN.spawn(
        test,
        &[
            ("DATAFRAME_MEMORY_TEST_CGROUP", cgroup.clone()),
            ("RASK_MEMORY_LIMIT", LIMIT.to_string()),
            ("RASK_NUM_WORKERS", "2".into()),
            // Polars' pool runs the partitions' work (kernels move onto it):
            // two threads, like rask's, whatever the machine.
            ("POLARS_MAX_THREADS", "2".into()),
            ("RASK_PROGRESS", "off".into()),
            ("RASK_MEMORY_SPILL_DIRECTORY", parent.display().to_string()),
        ],
    );
    // The oracle, while the child works.
    let (want, distinct) = expected();
    let (status, out, err) = wait(child, test, Duration::from_secs(300));
    // The child has exited: its cgroup is empty and can go.
    remove_cgroup(&cgroup);
    assert!(
        status.success(),
        "{test} failed in its child ({status}; killed by the kernel when over its cgroup's \
         limit):\n{out}\n{err}"
    );
    // Shown with --nocapture, and in the output of a failure.
    let summary: Vec<&str> = out.lines().filter(|l| !l.starts_with("PART ")).collect();
    eprintln!("{}", summary.join("\n"));
    if let Some(line) = out.lines().find(|l| l.starts_with("real limit: none")) {
        eprintln!("{test} under a memory limit: {line}; peak RSS is still checked (VmHWM)");
    }
    let got = parts(&out);
    let mut total = Totals {
        sums: vec![0; 1 + PAYLOAD.len()],
        ..Totals::default()
    };
    for p in &got {
        total.rows += p.rows;
        total.ka += p.ka;
        for (t, s) in total.sums.iter_mut().zip(&p.sums) {
            *t += s;
        }
    }
    assert_eq!(
        total, want,
        "the shuffled rows differ from the generated ones"
    );
    assert_eq!(result_field(&out, "limit") as u64, LIMIT);
    assert!(
        result_field(&out, "spills") > 0.0,
        "nothing was spilled:\n{}",
        summary.join("\n")
    );
    let (before, hwm) = (result_field(&out, "before"), result_field(&out, "peak"));
    if hwm > 0.0 {
        // The test binary's own memory before the compute, plus thread
        // stacks and allocator arenas of the pools.
        let allowance = before + (8 << 20) as f64;
        let bound = 1.25 * LIMIT as f64 + allowance;
        assert!(
            hwm <= bound,
            "peak RSS {:.1} MiB is above 1.25 × {} MiB + {:.1} MiB\n{}",
            hwm / 1048576.0,
            LIMIT >> 20,
            allowance / 1048576.0,
            summary.join("\n")
        );
    } else {
        eprintln!("{test}: /proc/self/statm cannot be read here, so peak RSS is not checked");
    }
    assert_eq!(files_under(&parent), 0, "spill files were left behind");
    let _ = std::fs::remove_dir_all(&parent);
    (out, got, distinct)
}

/// The child of [`a_hash_shuffle_of_three_times_the_limit_finishes_under_it`].
#[test]
fn hash_shuffle_child() {
    if is_child("memory::hash_shuffle_child") {
        child(|d| d.shuffle([col("k")], NPARTS));
    }
}

/// Issue "memory": a hash shuffle of a frame three times the memory limit
/// finishes with every row, each key in one partition, peak RSS within
/// 1.25 × the limit, and no spill file left.
#[test]
fn a_hash_shuffle_of_three_times_the_limit_finishes_under_it() {
    if in_any_child() {
        return;
    }
    let (_, parts, distinct) = run_child("memory::hash_shuffle_child");
    assert_eq!(parts.len(), NPARTS);
    // A key in two partitions would be counted twice.
    let nunique: i64 = parts.iter().map(|p| p.nunique).sum();
    assert_eq!(nunique as usize, distinct, "a key is in two partitions");
}

/// The child of [`set_index_of_three_times_the_limit_finishes_under_it`].
#[test]
fn set_index_child() {
    if is_child("memory::set_index_child") {
        child(|d| d.set_index("k").unwrap());
    }
}

/// Issues "memory" and "dataframes" (`df-set-index` with a memory limit of
/// half the data size, here a third): `set_index` of a frame three times
/// the limit finishes sorted, with every row, peak RSS within 1.25 × the
/// limit, and no spill file left.
#[test]
fn set_index_of_three_times_the_limit_finishes_under_it() {
    if in_any_child() {
        return;
    }
    let (out, parts, distinct) = run_child("memory::set_index_child");
    assert!(parts.len() > 1, "one partition only:\n{out}");
    let mut last: Option<i64> = None;
    let mut nunique = 0;
    for (i, p) in parts.iter().enumerate() {
        assert!(p.ascending, "partition {i} is not sorted");
        if let (Some(lo), Some(hi)) = (p.min, p.max) {
            assert!(
                last.is_none_or(|l| l <= lo),
                "partition {i} starts at {lo}, below the end of the one before ({last:?})"
            );
            last = Some(hi);
        }
        nunique += p.nunique;
    }
    // Sorted partitions in order may share a boundary key only.
    assert!(nunique as usize >= distinct && nunique as usize <= distinct + parts.len());
}
