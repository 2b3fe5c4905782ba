"""The dataframe workloads (``df-*``): their input, their answers, and the
Dask and Polars sides.

The input is synthetic device telemetry (the data of examples/automotive.rs,
drawn with NumPy here), written once into ``$RASK_BENCH_CACHE/telemetry-ROWS``
by the harness (``bench/inputs.py``; ``bench/run --df-rows N`` picks the
size, 10,000,000 rows by default) and read by every engine:

* ``csv/part-NNN.csv`` — ``--df-files`` files (10) of ``device_id`` (int),
  ``part_kind`` (1,000 kinds, ``PK-0042``), ``site`` (12), ``ts`` (int
  seconds, distinct per device), ``value`` (float, 0.1% missing),
  ``failed`` (bool);
* ``parquet/part-NNN.parquet`` — the same rows, one Parquet file per CSV file;
* ``devices.parquet`` — the device table: ``device_id``, ``firmware`` (5),
  ``supplier`` (4); 100,000 devices;
* ``reference.json`` — every workload's answer, computed with Polars
  (eager) on all rows at once.

The workloads (the same in ``bench/src/dataframes.rs``):

* ``df-csv-to-parquet`` — read the CSV files, write Parquet (a directory of
  files; Polars: one file), zstd level 3 in all three (rask's and Polars'
  default; Dask is told, its default being snappy); checked: the rows
  written;
* ``df-groupby-low`` — Parquet, group by ``part_kind`` (1,000 groups): mean,
  std (ddof 1) and count of ``value``; checked per group;
* ``df-groupby-high`` — Parquet, group by ``device_id`` (100,000 groups):
  mean, max and count of ``value``; checked: groups, total count, the sums of
  the means and of the maxima;
* ``df-join-groupby`` — Parquet joined (inner) with the device table on
  ``device_id``, group by ``firmware, supplier``: mean and count of
  ``value``; checked per group;
* ``df-set-index`` — Parquet by ``ts``, each file a disjoint range (Dask and
  rask: ``set_index("ts")``, which finds the ranges in order and sorts each
  partition without a shuffle; Polars: ``sort("ts")``); checked: rows, first
  and last ``ts``, and that the partitions are in order.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

DF_WORKLOADS: dict[str, str] = {
    "df-csv-to-parquet": "telemetry CSV files -> Parquet (10,000,000 rows by default; "
                         "bench/run --df-rows N)",
    "df-groupby-low": "Parquet telemetry, group by part_kind (1,000 groups): mean, std, count",
    "df-groupby-high": "Parquet telemetry, group by device_id (100,000 groups): mean, max, count",
    "df-join-groupby": "Parquet telemetry inner-joined with the device table (100,000 rows), "
                       "group by firmware, supplier: mean, count",
    "df-set-index": "Parquet telemetry by ts ranges (set_index of presorted partitions; Polars: sort)",
}

DF_ROWS = 10_000_000
DF_FILES = 10
DEVICES = 100_000
KINDS = 1_000
SITES = 12
FIRMWARE = ["fw-1.0", "fw-1.1", "fw-2.0", "fw-2.1", "fw-3.0"]
SUPPLIERS = ["ackermann", "bosco", "contiwerk", "denso-ish"]
STEP_S = 21_600  # 6 hours between a device's readings
SEED = 2026


def df_rows() -> int:
    return int(os.environ.get("RASK_BENCH_DF_ROWS", DF_ROWS))


def input_name() -> str:
    """The input's directory name in the cache (its size is part of it)."""
    return f"telemetry-{df_rows()}"


def make_telemetry(path: Path, rows: int, files: int = DF_FILES) -> None:
    """Writes the telemetry input (see the module docs) into ``path``."""
    import numpy as np
    import polars as pl

    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "csv").mkdir(parents=True)
    (tmp / "parquet").mkdir()
    devices = min(DEVICES, max(1, rows // files))
    per_dev = max(1, rows // (files * devices))  # readings of a device per file
    rng = np.random.default_rng(SEED)
    kind = rng.integers(0, KINDS, devices)
    site = rng.integers(0, SITES, devices)
    fw = rng.integers(0, len(FIRMWARE), devices)
    sup = rng.integers(0, len(SUPPLIERS), devices)
    horizon = files * per_dev * STEP_S
    scale = horizon * (0.5 + 2.0 * rng.random(KINDS))[kind]
    fails_at = scale * rng.weibull(1.5, devices)
    offset = (np.arange(devices, dtype=np.int64) * 7_919) % STEP_S
    kinds = pl.Series("part_kind", [f"PK-{k:04d}" for k in range(KINDS)])
    sites = pl.Series("site", [f"site-{s:02d}" for s in range(SITES)])
    frames = []
    for f in range(files):
        dev = np.tile(np.arange(devices, dtype=np.int64), per_dev)
        j = np.repeat(np.arange(f * per_dev, (f + 1) * per_dev, dtype=np.int64), devices)
        ts = j * STEP_S + offset[dev]
        value = np.round(60.0 + 4.0 * (rng.random(len(dev)) - 0.5)
                         + 25.0 * np.clip(1.0 - (fails_at[dev] - ts) / (200 * 3600), 0.0, 1.0), 3)
        missing = rng.random(len(dev)) < 0.001
        df = pl.DataFrame({
            "device_id": dev,
            "part_kind": kinds.gather(kind[dev]),
            "site": sites.gather(site[dev]),
            "ts": ts,
            "value": pl.Series("value", np.where(missing, np.nan, value)).fill_nan(None),
            "failed": ts >= fails_at[dev],
        })
        df.write_csv(tmp / "csv" / f"part-{f:03d}.csv")
        df.write_parquet(tmp / "parquet" / f"part-{f:03d}.parquet")
        frames.append(df)
    dev_table = pl.DataFrame({
        "device_id": np.arange(devices, dtype=np.int64),
        "firmware": pl.Series(FIRMWARE).gather(fw),
        "supplier": pl.Series(SUPPLIERS).gather(sup),
    })
    dev_table.write_parquet(tmp / "devices.parquet")
    ref = reference(pl.concat(frames), dev_table)
    ref["devices"] = devices
    (tmp / "reference.json").write_text(json.dumps(ref) + "\n")
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def reference(all_rows, dev_table) -> dict:
    """Every workload's answer, with Polars on all rows at once."""
    import polars as pl

    v = pl.col("value")
    low = all_rows.group_by("part_kind").agg(v.mean().alias("mean"), v.std().alias("std"),
                                             v.count().alias("count"))
    high = all_rows.group_by("device_id").agg(v.mean().alias("mean"), v.max().alias("max"),
                                              v.count().alias("count"))
    join = (all_rows.join(dev_table, on="device_id")
            .group_by("firmware", "supplier").agg(v.mean().alias("mean"), v.count().alias("count")))
    return {
        "rows": all_rows.height,
        "df-groupby-low": {r["part_kind"]: [r["mean"], r["std"], r["count"]]
                           for r in low.iter_rows(named=True)},
        "df-groupby-high": high_summary(high["mean"], high["max"], high["count"]),
        "df-join-groupby": {f"{r['firmware']}|{r['supplier']}": [r["mean"], r["count"]]
                            for r in join.iter_rows(named=True)},
        "df-set-index": {"rows": all_rows.height, "lo": int(all_rows["ts"].min()),
                         "hi": int(all_rows["ts"].max()), "ordered": True},
    }


def high_summary(means, maxs, counts) -> dict:
    """What df-groupby-high checks: groups, total count, sums of means and maxima."""
    return {"groups": len(counts), "count": int(sum(counts)),
            "mean_sum": float(sum(means)), "max_sum": float(sum(maxs))}


def _close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel)


def check(name: str, got, ref: dict) -> str | None:
    """None when ``got`` (an answer in the reference's form) matches."""
    want = ref[name] if name != "df-csv-to-parquet" else {"rows": ref["rows"]}
    if name in ("df-groupby-low", "df-join-groupby"):
        if set(got) != set(want):
            return f"groups differ: {len(got)} groups, expected {len(want)}"
        for k, w in want.items():
            g = got[k]
            if g[-1] != w[-1] or not all(_close(a, b, 1e-9) for a, b in zip(g[:-1], w[:-1])):
                return f"group {k}: {g}, expected {w}"
        return None
    if name == "df-groupby-high":
        if got["groups"] != want["groups"] or got["count"] != want["count"]:
            return f"{got}, expected {want}"
        if not (_close(got["mean_sum"], want["mean_sum"], 1e-9)
                and _close(got["max_sum"], want["max_sum"], 1e-12)):
            return f"{got}, expected {want}"
        return None
    return None if got == want else f"{got}, expected {want}"


def _input() -> tuple[Path, dict]:
    env = os.environ.get("RASK_BENCH_DF_DIR")
    if not env:
        sys.exit("RASK_BENCH_DF_DIR is not set: the df workloads read the telemetry that bench/run "
                 "generates (bench/inputs.py); run them through bench/run")
    path = Path(env)
    return path, json.loads((path / "reference.json").read_text())


def _out_dir(path: Path, name: str, engine: str) -> Path:
    out = path.parent / "out" / f"{name}-{engine}"
    shutil.rmtree(out, ignore_errors=True)
    return out


# --------------------------------------------------------------------------
# Dask (dask.dataframe; pandas partitions with Arrow strings)
# --------------------------------------------------------------------------
def run_dask(name: str, scheduler: str, repeat: int, workers: int) -> int:
    import dask
    import dask.dataframe as dd
    import pandas as pd

    from array_workloads import emit_row

    path, ref = _input()
    builds, computes = [], []
    tasks = 0
    for r in range(repeat):
        out = _out_dir(path, name, "dask")
        gc.collect()
        t0 = time.perf_counter()
        if name == "df-csv-to-parquet":
            # zstd at level 3, as rask and Polars write by default (Dask's
            # own default is snappy: less work, larger files).
            x = dd.read_csv(str(path / "csv" / "*.csv")).to_parquet(
                str(out), write_index=False, compression="zstd", compression_level=3,
                compute=False)
        else:
            df = dd.read_parquet(str(path / "parquet"))
            if name == "df-groupby-low":
                x = df.groupby("part_kind")["value"].agg(["mean", "std", "count"])
            elif name == "df-groupby-high":
                x = df.groupby("device_id")["value"].agg(["mean", "max", "count"])
            elif name == "df-join-groupby":
                dev = dd.read_parquet(str(path / "devices.parquet"))
                x = (df.merge(dev, on="device_id")
                     .groupby(["firmware", "supplier"])["value"].agg(["mean", "count"]))
            else:  # df-set-index
                meta = pd.DataFrame({"n": pd.Series(dtype="int64"),
                                     "lo": pd.Series(dtype="float64"),
                                     "hi": pd.Series(dtype="float64")})
                x = df.set_index("ts").map_partitions(
                    lambda p: pd.DataFrame({"n": [len(p)], "lo": [p.index.min()],
                                            "hi": [p.index.max()]}), meta=meta)
        t1 = time.perf_counter()
        (value,) = dask.compute(x, scheduler=scheduler)
        t2 = time.perf_counter()
        tasks = len(x.__dask_graph__())
        got = _dask_answer(name, value, out)
        err = check(name, got, ref)
        if err:
            print(f"dask_bench: {name}: wrong result: {err}", file=sys.stderr)
            return 1
        builds.append(t1 - t0)
        computes.append(t2 - t1)
        print(f"dask_bench: {name} {scheduler} run {r + 1}/{repeat}: build {t1 - t0:.4f}s "
              f"compute {t2 - t1:.4f}s", file=sys.stderr)
        del x, value
    shutil.rmtree(path.parent / "out" / f"{name}-dask", ignore_errors=True)
    emit_row(name, "dask", scheduler, tasks, min(builds), min(computes), repeat, workers=workers)
    return 0


def _dask_answer(name: str, value, out: Path):
    if name == "df-csv-to-parquet":
        import pyarrow.parquet as pq
        return {"rows": sum(pq.ParquetFile(f).metadata.num_rows for f in out.glob("*.parquet"))}
    if name == "df-groupby-low":
        return {k: [float(r["mean"]), float(r["std"]), int(r["count"])]
                for k, r in value.iterrows()}
    if name == "df-groupby-high":
        return high_summary(value["mean"].tolist(), value["max"].tolist(),
                            value["count"].tolist())
    if name == "df-join-groupby":
        return {f"{k[0]}|{k[1]}": [float(r["mean"]), int(r["count"])] for k, r in value.iterrows()}
    return _order_answer(value["n"].tolist(), value["lo"].tolist(), value["hi"].tolist())


def _order_answer(n, lo, hi) -> dict:
    """df-set-index's answer from each partition's rows, first and last ts."""
    parts = [(a, b) for k, a, b in zip(n, lo, hi) if k > 0]
    ordered = all(parts[i][1] <= parts[i + 1][0] for i in range(len(parts) - 1))
    return {"rows": int(sum(n)), "lo": int(parts[0][0]) if parts else None,
            "hi": int(parts[-1][1]) if parts else None, "ordered": ordered}


# --------------------------------------------------------------------------
# Polars (Python, lazy; its own thread pool)
# --------------------------------------------------------------------------
def run_polars(name: str, repeat: int) -> int:
    import polars as pl

    from array_workloads import emit_row

    path, ref = _input()
    computes = []
    v = pl.col("value")
    for r in range(repeat):
        out = _out_dir(path, name, "polars")
        gc.collect()
        t0 = time.perf_counter()
        if name == "df-csv-to-parquet":
            out.mkdir(parents=True)
            pl.scan_csv(str(path / "csv" / "*.csv")).sink_parquet(out / "data.parquet")
            value = None
        else:
            lf = pl.scan_parquet(str(path / "parquet" / "*.parquet"))
            if name == "df-groupby-low":
                q = lf.group_by("part_kind").agg(v.mean().alias("mean"), v.std().alias("std"),
                                                 v.count().alias("count"))
            elif name == "df-groupby-high":
                q = lf.group_by("device_id").agg(v.mean().alias("mean"), v.max().alias("max"),
                                                 v.count().alias("count"))
            elif name == "df-join-groupby":
                q = (lf.join(pl.scan_parquet(path / "devices.parquet"), on="device_id")
                     .group_by("firmware", "supplier")
                     .agg(v.mean().alias("mean"), v.count().alias("count")))
            else:
                q = lf.sort("ts")
            value = q.collect()
        t1 = time.perf_counter()
        got = _polars_answer(name, value, out)
        err = check(name, got, ref)
        if err:
            print(f"polars_bench: {name}: wrong result: {err}", file=sys.stderr)
            return 1
        computes.append(t1 - t0)
        print(f"polars_bench: {name} run {r + 1}/{repeat}: compute {t1 - t0:.4f}s", file=sys.stderr)
        del value
    shutil.rmtree(path.parent / "out" / f"{name}-polars", ignore_errors=True)
    emit_row(name, "polars", None, 0, 0.0, min(computes), repeat, workers=pl.thread_pool_size())
    return 0


def _polars_answer(name: str, value, out: Path):
    import polars as pl

    if name == "df-csv-to-parquet":
        return {"rows": pl.scan_parquet(out / "*.parquet").select(pl.len()).collect().item()}
    if name == "df-groupby-low":
        return {r["part_kind"]: [r["mean"], r["std"], r["count"]] for r in value.iter_rows(named=True)}
    if name == "df-groupby-high":
        return high_summary(value["mean"], value["max"], value["count"])
    if name == "df-join-groupby":
        return {f"{r['firmware']}|{r['supplier']}": [r["mean"], r["count"]]
                for r in value.iter_rows(named=True)}
    ts = value["ts"]
    return {"rows": value.height, "lo": int(ts[0]), "hi": int(ts[-1]),
            "ordered": bool(ts.is_sorted())}
