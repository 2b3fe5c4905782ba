//! Hive-partitioned Parquet: `WriteParquet::partition_on` writes
//! `dir/key=value/part.{i}.parquet`, `read_parquet` restores the key
//! columns from the paths, filters on them drop whole files, and Polars
//! (and pyarrow, when Python has it) read the same layout.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rask_dataframe::polars::prelude::*;
use rask_dataframe::{self as dd, ReadParquet, WriteParquet};

use crate::support::{assert_frames_eq, data, random_parts, sorted, temp_dir};

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(d: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `k` and `g` moved to the end (where a hive read puts them).
fn keys_last(df: &DataFrame) -> DataFrame {
    df.select(["v", "w", "k", "g"]).unwrap()
}

#[test]
fn partition_on_writes_the_hive_layout_and_reads_back() {
    let dir = temp_dir("hive-roundtrip");
    let out = dir.join("out");
    let pl = data(500, 11);
    let parts = random_parts(&pl, 5, 4);
    let d = dd::from_partitions(parts.clone()).unwrap();
    let rows = WriteParquet::new(&out)
        .partition_on(["k", "g"])
        .write(&d)
        .unwrap();
    assert_eq!(rows, 500);

    // Each partition wrote one file into each key directory it has rows
    // for, and nothing else is left (no temporary files).
    let mut want = BTreeSet::new();
    for (i, p) in parts.iter().enumerate() {
        let ks = p.column("k").unwrap().str().unwrap().clone();
        let gs = p.column("g").unwrap().i64().unwrap().clone();
        for (k, g) in ks.iter().zip(gs.iter()) {
            let k = k.unwrap_or("__HIVE_DEFAULT_PARTITION__");
            let g = g.map_or("__HIVE_DEFAULT_PARTITION__".to_string(), |g| g.to_string());
            want.insert(format!("k={k}/g={g}/part.{i}.parquet"));
        }
    }
    assert_eq!(files_under(&out), want.into_iter().collect::<Vec<_>>());

    // The key columns are not in the files.
    let one = ParquetReader::new(std::fs::File::open(out.join(&files_under(&out)[0])).unwrap())
        .finish()
        .unwrap();
    assert_eq!(one.get_column_names(), ["v", "w"]);

    let want = sorted(&keys_last(&pl), &["v", "w", "k", "g"]);
    for pattern in [
        s(&out).to_string(),
        format!("{}/", s(&out)),
        format!("{}/**/*.parquet", s(&out)),
    ] {
        let back = dd::read_parquet(&pattern).unwrap();
        assert_eq!(back.columns(), ["v", "w", "k", "g"], "{pattern}");
        assert_eq!(back.dtype("k"), Some(&DataType::String));
        assert_eq!(back.dtype("g"), Some(&DataType::Int64));
        let got = back.compute().unwrap();
        assert_frames_eq(&sorted(&got, &["v", "w", "k", "g"]), &want);
        // Projections of key columns only, of file columns only, and a
        // row count.
        assert_eq!(back.len().unwrap(), 500);
        let only_keys = back.select([col("g"), col("k")]).compute().unwrap();
        assert_frames_eq(
            &sorted(&only_keys, &["g", "k"]),
            &sorted(&pl.select(["g", "k"]).unwrap(), &["g", "k"]),
        );
        let agg = back
            .group_by([col("k")])
            .agg([col("w").sum().alias("s"), col("g").max().alias("m")])
            .compute()
            .unwrap();
        let want_agg = pl
            .clone()
            .lazy()
            .group_by([col("k")])
            .agg([col("w").sum().alias("s"), col("g").max().alias("m")])
            .collect()
            .unwrap();
        assert_frames_eq(&sorted(&agg, &["k"]), &sorted(&want_agg, &["k"]));
    }

    // Polars' own hive reading gives the same.
    let args = ScanArgsParquet {
        hive_options: HiveOptions {
            enabled: Some(true),
            // Date parsing needs Polars' date features, not built here.
            try_parse_dates: false,
            ..Default::default()
        },
        ..Default::default()
    };
    let polars = LazyFrame::scan_parquet(
        PlRefPath::new(format!("{}/**/*.parquet", s(&out)).as_str()),
        args,
    )
    .unwrap()
    .select([col("v"), col("w"), col("k"), col("g")])
    .collect()
    .unwrap();
    assert_frames_eq(&sorted(&polars, &["v", "w", "k", "g"]), &want);
}

#[test]
fn filters_on_partition_columns_drop_whole_files() {
    let dir = temp_dir("hive-prune");
    let out = dir.join("out");
    let pl = data(400, 12);
    let d = dd::from_partitions(random_parts(&pl, 4, 5)).unwrap();
    WriteParquet::new(&out)
        .partition_on(["k"])
        .write(&d)
        .unwrap();
    let all = files_under(&out);
    let count = |prefix: &str| all.iter().filter(|f| f.starts_with(prefix)).count();
    let back = dd::read_parquet(s(&out)).unwrap();
    assert_eq!(back.npartitions(), all.len());

    let check = |q: &dd::DataFrame, want: LazyFrame| {
        let want = want
            .select([col("v"), col("w"), col("g"), col("k")])
            .collect()
            .unwrap();
        let got = q
            .select([col("v"), col("w"), col("g"), col("k")])
            .compute()
            .unwrap();
        assert_frames_eq(
            &sorted(&got, &["v", "w", "g", "k"]),
            &sorted(&want, &["v", "w", "g", "k"]),
        );
    };

    let a = back.filter(col("k").eq(lit("alpha")));
    assert_eq!(a.npartitions(), count("k=alpha/"));
    check(&a, pl.clone().lazy().filter(col("k").eq(lit("alpha"))));

    // A conjunction with a condition on a file column prunes by its key
    // part; an `or` of keys, a null test and a `not` too.
    let av = back.filter(col("k").eq(lit("alpha")).and(col("v").gt(lit(0.0))));
    assert_eq!(av.npartitions(), count("k=alpha/"));
    check(
        &av,
        pl.clone()
            .lazy()
            .filter(col("k").eq(lit("alpha")).and(col("v").gt(lit(0.0)))),
    );
    let ab = back.filter(col("k").eq(lit("alpha")).or(col("k").eq(lit("beta"))));
    assert_eq!(ab.npartitions(), count("k=alpha/") + count("k=beta/"));
    let nul = back.filter(col("k").is_null());
    assert_eq!(nul.npartitions(), count("k=__HIVE_DEFAULT_PARTITION__/"));
    check(&nul, pl.clone().lazy().filter(col("k").is_null()));
    let not = back.filter(col("k").eq(lit("alpha")).not());
    assert_eq!(
        not.npartitions(),
        all.len() - count("k=alpha/") - count("k=__HIVE")
    );

    // Pruning survives earlier filters and added columns, and a second
    // filter prunes further.
    let chained = back
        .filter(col("w").gt(lit(0)))
        .with_columns([(col("w") * lit(2)).alias("w2")])
        .filter(col("k").neq(lit("alpha")))
        .filter(col("k").neq(lit("beta")));
    assert_eq!(
        chained.npartitions(),
        all.len() - count("k=alpha/") - count("k=beta/") - count("k=__HIVE")
    );
    check(
        &chained,
        pl.clone().lazy().filter(
            col("w")
                .gt(lit(0))
                .and(col("k").neq(lit("alpha")))
                .and(col("k").neq(lit("beta"))),
        ),
    );

    // Nothing can match: one empty partition with the schema.
    let none = back.filter(col("k").eq(lit("zeta")));
    assert_eq!(none.npartitions(), 1);
    let got = none.compute().unwrap();
    assert_eq!(got.height(), 0);
    assert_eq!(got.schema(), back.schema());

    // Not elementwise, or not on partition columns alone: no pruning, and
    // still the right rows.
    let first = back.filter(col("k").eq(col("k").first()));
    assert_eq!(first.npartitions(), all.len());
    assert_eq!(back.filter(col("v").gt(lit(0.0))).npartitions(), all.len());

    // The dropped files are never opened: damage one outside `alpha`.
    let victim = all.iter().find(|f| f.starts_with("k=beta/")).unwrap();
    std::fs::write(out.join(victim), b"not parquet any more").unwrap();
    check(&a, pl.clone().lazy().filter(col("k").eq(lit("alpha"))));
    assert!(
        back.compute().is_err(),
        "the damaged file is read without the filter"
    );
}

#[test]
fn awkward_values_are_escaped_and_types_come_back() {
    let dir = temp_dir("hive-escape");
    let out = dir.join("out");
    let names = [
        Some("a/b"),
        Some("x=y"),
        Some("sp ace"),
        Some("ü%"),
        Some(""),
        Some("."),
        Some(".."),
        None,
        Some("A"),
    ];
    let n = names.len();
    let pl = df!(
        "s" => names.to_vec(),
        "flag" => (0..n).map(|i| (i % 4 != 3).then_some(i % 2 == 0)).collect::<Vec<_>>(),
        "small" => (0..n).map(|i| (i % 3) as u8).collect::<Vec<_>>(),
        "x" => (0..n as i64).collect::<Vec<_>>()
    )
    .unwrap();
    let d = dd::from_polars(pl.clone(), 2).unwrap();
    WriteParquet::new(&out)
        .partition_on(["s"])
        .write(&d)
        .unwrap();
    let dirs: BTreeSet<String> = files_under(&out)
        .into_iter()
        .map(|f| f.split('/').next().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = [
        "s=a%2Fb",
        "s=x%3Dy",
        "s=sp%20ace",
        "s=%C3%BC%25",
        "s=",
        "s=.",
        "s=..",
        "s=__HIVE_DEFAULT_PARTITION__",
        "s=A",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(dirs, want, "pyarrow's escaping");
    let back = dd::read_parquet(s(&out)).unwrap().compute().unwrap();
    let want = pl.select(["flag", "small", "x", "s"]).unwrap();
    assert_frames_eq(&sorted(&back, &["x"]), &want);

    // Boolean, integer and categorical keys.
    let out2 = dir.join("out2");
    let cat = dd::from_polars(pl.clone(), 3)
        .unwrap()
        .with_columns([col("s").fill_null(lit("none"))])
        .cast_categorical(["s"])
        .unwrap();
    WriteParquet::new(&out2)
        .partition_on(["flag", "small", "s"])
        .write(&cat)
        .unwrap();
    assert!(
        out2.join("flag=true/small=0/s=a%2Fb/part.0.parquet")
            .is_file()
    );
    assert!(
        out2.join("flag=__HIVE_DEFAULT_PARTITION__/small=0/s=%C3%BC%25/part.1.parquet")
            .is_file()
    );
    let back = dd::read_parquet(s(&out2)).unwrap();
    assert_eq!(back.columns(), ["x", "flag", "small", "s"]);
    assert_eq!(back.dtype("flag"), Some(&DataType::Boolean));
    assert_eq!(back.dtype("small"), Some(&DataType::Int64));
    assert_eq!(back.dtype("s"), Some(&DataType::String));
    let want = pl
        .clone()
        .lazy()
        .select([
            col("x"),
            col("flag"),
            col("small").cast(DataType::Int64),
            col("s").fill_null(lit("none")),
        ])
        .collect()
        .unwrap();
    assert_frames_eq(&sorted(&back.compute().unwrap(), &["x"]), &want);
    let bools = back.filter(col("flag").eq(lit(true)).and(col("small").lt(lit(2))));
    assert!(bools.npartitions() < back.npartitions());
    let want_b = want
        .clone()
        .lazy()
        .filter(col("flag").eq(lit(true)).and(col("small").lt(lit(2))))
        .collect()
        .unwrap();
    assert_frames_eq(&sorted(&bools.compute().unwrap(), &["x"]), &want_b);

    // Read as a categorical: categories from the paths, no data read.
    let c = ReadParquet::new(s(&out2))
        .categorical("s")
        .finish()
        .unwrap();
    let mut cats: Vec<String> = names
        .iter()
        .map(|s| s.unwrap_or("none").to_string())
        .collect();
    cats.sort();
    cats.dedup();
    assert_eq!(c.categories("s").unwrap(), cats);
    let pruned = c.filter(col("s").eq(lit("A")));
    assert!(pruned.npartitions() < c.npartitions());
    let got = pruned.compute().unwrap();
    assert_eq!(got.height(), 1);
    assert!(matches!(
        got.column("s").unwrap().dtype(),
        DataType::Enum(..)
    ));

    // Without hive parsing the key columns are not there.
    let plain = ReadParquet::new(s(&out2))
        .hive_partitioning(false)
        .finish()
        .unwrap();
    assert_eq!(plain.columns(), ["x"]);
}

#[test]
fn bad_partition_columns_are_errors_naming_them() {
    let dir = temp_dir("hive-errors");
    let d = dd::from_polars(data(20, 1), 2).unwrap();
    let e = WriteParquet::new(dir.join("a"))
        .partition_on(["nope"])
        .write(&d)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`nope`") && e.contains("k: str") && e.contains("w: i64"),
        "{e}"
    );
    let e = WriteParquet::new(dir.join("b"))
        .partition_on(["v"])
        .write(&d)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`v`") && e.contains("f64"), "{e}");
    let e = WriteParquet::new(dir.join("c"))
        .partition_on(["k", "g", "v", "w"])
        .write(&d)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no column to write"), "{e}");

    // A dataset mixing layouts.
    let mixed = dir.join("mixed");
    d.to_parquet(&mixed).unwrap();
    WriteParquet::new(mixed.join("k=x")).write(&d).unwrap();
    let e = dd::read_parquet(s(&mixed)).unwrap_err().to_string();
    assert!(e.contains("part.0.parquet") && e.contains("k=x"), "{e}");
    // A key both in the files and in the paths.
    let both = dir.join("both");
    WriteParquet::new(both.join("k=x")).write(&d).unwrap();
    let e = dd::read_parquet(s(&both)).unwrap_err().to_string();
    assert!(
        e.contains("`k`") && e.contains("hive_partitioning(false)"),
        "{e}"
    );
    assert_eq!(
        ReadParquet::new(s(&both))
            .hive_partitioning(false)
            .finish()
            .unwrap()
            .len()
            .unwrap(),
        20
    );
}

#[test]
fn a_failed_partition_leaves_none_of_its_files() {
    let dir = temp_dir("hive-fail");
    let out = dir.join("out");
    let pl = df!("k" => ["a", "b", "c", "a"], "v" => [1i64, 2, 3, 4]).unwrap();
    let d = dd::from_polars(pl, 1).unwrap();
    // A directory where the last group's file goes: its rename fails after
    // the others were renamed.
    let blocker: PathBuf = out.join("k=c/part.0.parquet");
    std::fs::create_dir_all(&blocker).unwrap();
    let e = WriteParquet::new(&out)
        .partition_on(["k"])
        .write(&d)
        .unwrap_err()
        .to_string();
    assert!(e.contains("k=c/part.0.parquet"), "{e}");
    let mut left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["k=c"], "the directories the task made are gone");
    assert_eq!(
        std::fs::read_dir(out.join("k=c")).unwrap().count(),
        1,
        "only the blocking directory is left"
    );
}

/// Python's pyarrow reads what rask writes, and rask reads what pyarrow
/// writes (when a Python with pyarrow is found).
#[test]
fn pyarrow_reads_and_writes_the_same_layout() {
    let Some(python) = crate::support::python_with("pyarrow") else {
        crate::support::no_oracle("pyarrow");
        return;
    };
    let dir = temp_dir("hive-pyarrow");
    let out = dir.join("rask");
    let pl = data(300, 21);
    let d = dd::from_partitions(random_parts(&pl, 3, 2)).unwrap();
    WriteParquet::new(&out)
        .partition_on(["k", "g"])
        .write(&d)
        .unwrap();
    // pyarrow reads it with the key columns, then writes its own dataset.
    let script = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc
t = pq.read_table(sys.argv[1])
rows = sorted(zip(t.column("k").cast(pa.string()).to_pylist(), t.column("g").cast(pa.int64()).to_pylist(), t.column("w").to_pylist()), key=repr)
for k, g, w in rows:
    print("null" if k is None else k, "null" if g is None else g, w)
pq.write_to_dataset(t.select(["k", "g", "v", "w"]).cast(pa.schema([("k", pa.string()), ("g", pa.int64()), ("v", pa.float64()), ("w", pa.int64())])), sys.argv[2], partition_cols=["k", "g"])
"#;
    let theirs = dir.join("pyarrow");
    let got = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&out)
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(
        got.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    let mut want: Vec<(String, String, String)> = Vec::new();
    let ks = pl.column("k").unwrap().str().unwrap();
    let gs = pl.column("g").unwrap().i64().unwrap();
    let ws = pl.column("w").unwrap().i64().unwrap();
    for i in 0..pl.height() {
        want.push((
            ks.get(i).unwrap_or("null").to_string(),
            gs.get(i).map_or("null".to_string(), |g| g.to_string()),
            ws.get(i).unwrap().to_string(),
        ));
    }
    let mut lines: Vec<(String, String, String)> = String::from_utf8(got.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    lines.sort();
    want.sort();
    assert_eq!(lines, want, "pyarrow's reading of rask's dataset");

    let back = dd::read_parquet(s(&theirs)).unwrap();
    assert_eq!(back.dtype("k"), Some(&DataType::String));
    assert_eq!(back.dtype("g"), Some(&DataType::Int64));
    let got = back
        .select([col("v"), col("w"), col("k"), col("g")])
        .compute()
        .unwrap();
    assert_frames_eq(
        &sorted(&got, &["v", "w", "k", "g"]),
        &sorted(&keys_last(&pl), &["v", "w", "k", "g"]),
    );
    let alpha = back.filter(col("k").eq(lit("alpha")));
    assert!(alpha.npartitions() < back.npartitions());
    assert_eq!(
        alpha.len().unwrap(),
        pl.clone()
            .lazy()
            .filter(col("k").eq(lit("alpha")))
            .collect()
            .unwrap()
            .height()
    );
}

/// Runs a plan as another process would: encoded, decoded, then run.
struct Remote;

impl rask_core::Executor for Remote {
    fn execute(
        &self,
        plan: &rask_core::Plan,
        callbacks: &[&dyn rask_core::Callback],
    ) -> rask_core::Result<Vec<rask_core::Value>> {
        plan.graph.check_portable()?;
        let decoded = rask_core::Plan::decode(&plan.encode()?)?;
        rask_core::Executor::execute(&rask_local::SyncExecutor, &decoded, callbacks)
    }
    fn name(&self) -> &str {
        "remote (test)"
    }
    fn requires_portable(&self) -> bool {
        true
    }
}

#[test]
fn hive_writes_and_pruned_reads_are_portable() {
    let dir = temp_dir("hive-portable");
    let out = dir.join("out");
    let pl = data(120, 31);
    let d = dd::from_partitions(random_parts(&pl, 3, 7)).unwrap();
    WriteParquet::new(&out)
        .partition_on(["k"])
        .write_with(&d, &Remote)
        .unwrap();
    let back = ReadParquet::new(s(&out))
        .categorical("k")
        .finish()
        .unwrap()
        .filter(col("k").eq(lit("beta")))
        .select([col("w"), col("k")]);
    let got = back.compute_with(&Remote).unwrap();
    let want = pl
        .lazy()
        .filter(col("k").eq(lit("beta")))
        .select([col("w"), col("k")])
        .collect()
        .unwrap();
    assert_eq!(got.height(), want.height());
    assert!(matches!(
        got.column("k").unwrap().dtype(),
        DataType::Enum(..)
    ));
    let got = got
        .lazy()
        .with_column(col("k").cast(DataType::String))
        .collect()
        .unwrap();
    assert_frames_eq(&sorted(&got, &["w"]), &sorted(&want, &["w"]));
}
