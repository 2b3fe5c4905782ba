//! `examples/automotive.rs` on a small fleet: its Kaplan–Meier curves and
//! medians equal lifelines' `KaplanMeierFitter` on the same CSV files (when
//! a Python with lifelines is found: `RASK_PYTHON`, `bench/.venv` or
//! `python3`; with `RASK_REQUIRE_ORACLES` set a missing lifelines fails).

use std::path::{Path, PathBuf};
use std::process::Command;

use rask::Scheduler;
use rask::dataframe as dd;

#[allow(dead_code)]
#[path = "../../../../examples/automotive.rs"]
mod example;

use example::{Fleet, KindSurvival, kaplan_meier};

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "rask-it-{tag}-{}-{}",
            std::process::id(),
            rask::graph::fresh_token()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn kaplan_meier_by_hand() {
    // Failures at 1, 2, 3; censored at 2 and 4.
    let mut obs = [
        (3.0, true),
        (1.0, true),
        (2.0, false),
        (4.0, false),
        (2.0, true),
    ];
    let c = kaplan_meier(&mut obs);
    assert_eq!(c.times, [1.0, 2.0, 3.0, 4.0]);
    let want = [0.8, 0.6, 0.3, 0.3];
    for (s, w) in c.survival.iter().zip(want) {
        assert!((s - w).abs() < 1e-12, "{:?}", c.survival);
    }
    assert_eq!(c.median(), Some(3.0));
    assert_eq!(c.at(0.5), 1.0);
    assert!((c.at(2.5) - 0.6).abs() < 1e-12);
    assert_eq!(kaplan_meier(&mut [(5.0, false)]).median(), None);
}

/// The example's pipeline on `fleet`, written under `dir`: CSV → Parquet →
/// per device → survival per part kind.
fn pipeline(fleet: &Fleet, dir: &Path) -> rask::Result<Vec<KindSurvival>> {
    let sched = Scheduler::current()?;
    let csv = dir.join("csv");
    let pq = dir.join("telemetry.parquet");
    example::generate(fleet, &csv, &sched)?;
    dd::ReadCsv::new(format!("{}/*.csv", csv.display()))
        .blocksize(64 << 10)
        .finish()?
        .to_parquet(&pq)?;
    let df = dd::read_parquet(format!("{}/*.parquet", pq.display()))?;
    let devices = dd::from_polars(example::device_table(fleet), 1)?;
    let per_dev = example::per_device(&df, &devices).compute()?;
    assert_eq!(per_dev.height(), fleet.devices);
    example::survival(&dd::from_polars(per_dev, 3)?, 4, &sched)
}

const LIFELINES: &str = r#"
import glob, sys
import numpy as np, pandas as pd
from lifelines import KaplanMeierFitter
d = pd.concat([pd.read_csv(f) for f in sorted(glob.glob(sys.argv[1] + "/*.csv"))])
first = d[d["failed"]].groupby("device_id")["ts"].min()
dev = d.groupby("device_id").agg(kind=("part_kind", "first"), last=("ts", "max"))
dev["event"] = dev.index.isin(first.index)
dev["T"] = np.where(dev["event"], first.reindex(dev.index), dev["last"])
for kind, g in dev.groupby("kind"):
    kmf = KaplanMeierFitter().fit(g["T"].astype(float), g["event"])
    times = np.unique(g["T"].astype(float))
    s = kmf.survival_function_at_times(times).values
    print(kind, len(g), int(g["event"].sum()), repr(float(kmf.median_survival_time_)),
          " ".join(f"{float(t)!r}:{float(v)!r}" for t, v in zip(times, s)))
"#;

/// A Python that can import lifelines.
fn python_with_lifelines() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        std::env::var_os("RASK_PYTHON").map(PathBuf::from),
        Some(root.join("bench/.venv/bin/python")),
        Some(PathBuf::from("python3")),
    ]
    .into_iter()
    .flatten()
    .find(|py| {
        Command::new(py)
            .args(["-c", "import lifelines"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn automotive_survival_equals_lifelines() -> rask::Result<()> {
    let dir = TempDir::new("automotive");
    // 6 readings per device per file, 3 files: an 108-hour horizon.
    let fleet = Fleet::new(5_400, 3, 300, 8);
    let kinds = pipeline(&fleet, &dir.0)?;
    assert_eq!(kinds.iter().map(|k| k.devices).sum::<usize>(), 300);
    assert!(kinds.iter().any(|k| k.failures > 0) && kinds.iter().any(|k| k.failures < k.devices));

    let Some(python) = python_with_lifelines() else {
        let message = "no Python with lifelines found (set RASK_PYTHON, or install bench/requirements' lifelines pin)";
        if std::env::var_os("RASK_REQUIRE_ORACLES").is_some() {
            panic!("RASK_REQUIRE_ORACLES is set but {message}");
        }
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "note: the lifelines oracle test did not run: {message}"
        );
        return Ok(());
    };
    let out = Command::new(&python)
        .arg("-c")
        .arg(LIFELINES)
        .arg(dir.0.join("csv"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lifelines failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), kinds.len(), "{text}");
    for (line, k) in lines.iter().zip(&kinds) {
        let mut f = line.split_whitespace();
        assert_eq!(f.next(), Some(k.kind.as_str()));
        assert_eq!(
            f.next().unwrap().parse::<usize>().unwrap(),
            k.devices,
            "{}",
            k.kind
        );
        assert_eq!(
            f.next().unwrap().parse::<usize>().unwrap(),
            k.failures,
            "{}",
            k.kind
        );
        let median: f64 = f.next().unwrap().parse().unwrap();
        assert_eq!(
            k.curve.median().unwrap_or(f64::INFINITY),
            median,
            "median of {}",
            k.kind
        );
        let points: Vec<(f64, f64)> = f
            .map(|p| {
                let (t, s) = p.split_once(':').unwrap();
                (t.parse().unwrap(), s.parse().unwrap())
            })
            .collect();
        assert_eq!(points.len(), k.curve.times.len(), "times of {}", k.kind);
        for ((t, s), (ct, cs)) in points
            .iter()
            .zip(k.curve.times.iter().zip(&k.curve.survival))
        {
            assert_eq!(t, ct, "times of {}", k.kind);
            assert!(
                (s - cs).abs() < 1e-12,
                "{}: S({t}) = {cs}, lifelines {s}",
                k.kind
            );
        }
    }
    Ok(())
}
