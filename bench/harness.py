#!/usr/bin/env python3
"""rask vs Dask benchmark harness.

Runs each requested workload once per engine x scheduler, each measurement in
its own subprocess, and prints one row per measurement: tasks (as built and
as run), build seconds, compute seconds, microseconds per task run, peak RSS
(and bytes per task), and the ratio to Dask.  For the delayed workloads it
also prints where rask's time goes (graph merge, optimization, run), and for
``delayed-fanout`` each engine's threads time against the ideal (its sync
time / workers).  For
the streaming array workloads it also measures the memory bandwidth
(``rask-bench bandwidth``) and reports the memory-bandwidth bound.  The
distributed workloads (group ``distributed``, scheduler ``distributed``) run on
a local cluster of 2 worker processes x 1 thread; their footer gives the
cluster's start-up, CPU seconds per part and peak RSS per process.

Normally started through ``bench/run`` (which builds rask-bench and the venv);
see bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from array_workloads import ARRAY_WORKLOADS, STORED_WORKLOADS
from df_workloads import DF_WORKLOADS
from tpch import TPCH_WORKLOADS
import df_workloads
import inputs

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

# Local schedulers (threads, sync) and a local cluster of 2 worker processes
# x 1 thread (distributed: LocalCluster in rask and in dask.distributed).
SCHEDULERS = ("threads", "sync", "distributed")
LOCAL_SCHEDULERS = ("threads", "sync")


# ==========================================================================
# Engines: how to start one measurement.
# ==========================================================================
@dataclass(frozen=True)
class Engine:
    name: str
    # argv for (workload, scheduler, repeat); scheduler is None for engines
    # that have no scheduler choice (e.g. a plain NumPy reference).
    command: Callable[["Context", str, str | None, int], list[str]]
    # schedulers this engine is run with by default
    schedulers: tuple[str | None, ...] = SCHEDULERS
    # Which dask row a row of this engine is compared with: None -> the dask
    # row with the same scheduler; otherwise that fixed dask scheduler.
    baseline_scheduler: str | None = None


@dataclass
class Context:
    rask_bin: Path
    python: str = sys.executable


def _rask_cmd(ctx: Context, workload: str, scheduler: str | None, repeat: int) -> list[str]:
    return [str(ctx.rask_bin), workload, "--scheduler", str(scheduler), "--repeat", str(repeat)]


def _polars_rs_cmd(ctx: Context, workload: str, scheduler: str | None, repeat: int) -> list[str]:
    return [str(ctx.rask_bin), workload, "--engine", "polars-rs", "--repeat", str(repeat)]


def _script_cmd(script: str) -> Callable[[Context, str, str | None, int], list[str]]:
    def cmd(ctx: Context, workload: str, scheduler: str | None, repeat: int) -> list[str]:
        argv = [ctx.python, str(BENCH_DIR / script), workload]
        if scheduler is not None:
            argv += ["--scheduler", scheduler]
        return argv + ["--repeat", str(repeat)]
    return cmd


ENGINES: dict[str, Engine] = {
    "rask": Engine("rask", _rask_cmd),
    "dask": Engine("dask", _script_cmd("dask_bench.py")),
    # Plain NumPy reference for array workloads: bench/numpy_bench.py, same
    # CLI and JSON line as dask_bench.py, no --scheduler, one row per
    # workload, compared with the dask *threads* row.
    "numpy": Engine("numpy", _script_cmd("numpy_bench.py"), schedulers=(None,),
                    baseline_scheduler="threads"),
    # Polars (Python, lazy API) for the dataframe workloads: bench/polars_bench.py,
    # no scheduler (its own thread pool), compared with the dask threads row.
    "polars": Engine("polars", _script_cmd("polars_bench.py"), schedulers=(None,),
                     baseline_scheduler="threads"),
    # The Polars crate rask is built with, running a TPC-H query or a df
    # group-by as one lazy query in rask-bench (`--engine polars-rs`, the same
    # query text as rask's, bench/src/plan.rs):
    # rask's overhead over its own engine, apart from the Python package's
    # newer engine.
    "polars-rs": Engine("polars-rs", _polars_rs_cmd, schedulers=(None,),
                        baseline_scheduler="threads"),
    # DuckDB for TPC-H (bench/duckdb_bench.py): the reference answers come from it.
    "duckdb": Engine("duckdb", _script_cmd("duckdb_bench.py"), schedulers=(None,),
                     baseline_scheduler="threads"),
}


# ==========================================================================
# Workloads: which engines can run each one, and which run by default.
# ==========================================================================
@dataclass(frozen=True)
class Workload:
    name: str
    engines: tuple[str, ...]              # engines that implement it
    default_engines: tuple[str, ...] = ()  # run when --engines is not given (default: all)
    description: str = ""
    # schedulers run when --schedulers is not given (default: the local ones)
    schedulers: tuple[str, ...] = LOCAL_SCHEDULERS
    # environment set for every engine's subprocess of this workload
    env: tuple[tuple[str, str], ...] = ()
    # per engine, the schedulers it runs with (overrides `schedulers` for it)
    engine_schedulers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # ratios against the dask row of this workload whatever its scheduler
    # (the engines run on different schedulers by design)
    any_dask_scheduler: bool = False
    # a run that does not finish (the engine says so, or the harness's
    # --timeout kills it) is a result, reported in its row, not an error
    may_not_finish: bool = False

    def schedulers_of(self, engine: str) -> tuple[str, ...]:
        return dict(self.engine_schedulers).get(engine, self.schedulers)

    def selected(self, requested: list[str] | None) -> list[str]:
        if requested is None:
            return list(self.default_engines or self.engines)
        return [e for e in requested if e in self.engines]


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("delayed-independent", ("rask", "dask"),
             description="100,000 inc leaves + fan-in-64 tree sum (101,589 tasks)"),
    Workload("delayed-chain", ("rask", "dask"),
             description="inc chain of 10,000 tasks"),
    Workload("delayed-tree", ("rask", "dask"),
             description="100,000 inc leaves + pairwise add tree (rask: zip + map per add, "
                         "299,998 tasks; Dask: delayed(add), 199,999 tasks)"),
    # Dask takes minutes here, so it runs only with an explicit --engines ...,dask.
    Workload("delayed-million", ("rask", "dask"), default_engines=("rask",),
             description="1,000,000 inc leaves + fan-in-64 tree sum (1,015,875 tasks)"),
    Workload("delayed-fanout", ("rask", "dask"),
             description="1 root, 2,000 tasks on it spinning 1 ms each, fan-in-64 tree sum "
                         "(2,034 tasks); threads vs ideal = sync / workers"),
    # Rask only: Dask would need ~40 GB and hours for 10M delayed tasks.
    Workload("delayed-10m", ("rask",),
             description="10,000,000 inc leaves + fan-in-64 tree sum (10,158,732 tasks), rask only"),
    # x = random uniform (20,000, 20,000), chunks (1,000, 1,000); 3.2 GB.
    # Threads only by default: sync would take minutes in Dask.
    Workload("array-sum", ("rask", "dask", "numpy"), schedulers=("threads",),
             description="x.sum(): generating x, the generation floor"),
    Workload("array-sum-transpose", ("rask", "dask", "numpy"), schedulers=("threads",),
             description="(x + x.T).sum()"),
    Workload("array-mean-axis0", ("rask", "dask", "numpy"), schedulers=("threads",),
             description="x.mean(axis=0), all 20,000 column means"),
    Workload("array-std", ("rask", "dask", "numpy"), schedulers=("threads",),
             description="x.std() (ddof 0)"),
    Workload("array-matmul", ("rask", "dask", "numpy"), schedulers=("threads",),
             description="(x @ x.T).sum(), x 8,000 x 8,000 in (1,000, 1,000) chunks"),
    # Chunks mean nothing to NumPy: no numpy row.
    Workload("array-rechunk", ("rask", "dask"), schedulers=("threads",),
             description="x.rechunk((50, 8,000)).sum(), x 8,000 x 8,000 in (8,000, 50) chunks"),
    # Stored input: bench/inputs.py writes it once into the cache directory
    # (RASK_BENCH_CACHE, default bench/.cache); generation is not timed.
    Workload("array-npy-sum-transpose", ("rask", "dask"), schedulers=("threads",),
             description=STORED_WORKLOADS["array-npy-sum-transpose"]),
    # One BLAS thread in both engines: they multiply blocks in parallel.
    Workload("array-matmul-general", ("rask", "dask"), schedulers=("threads",),
             env=(("OPENBLAS_NUM_THREADS", "1"), ("OMP_NUM_THREADS", "1"),
                  ("MKL_NUM_THREADS", "1")),
             description=STORED_WORKLOADS["array-matmul-general"]),
    Workload("array-gaussian", ("rask", "dask"), schedulers=("threads",),
             description=STORED_WORKLOADS["array-gaussian"]),
    Workload("array-dwt", ("rask", "dask"), schedulers=("threads",),
             description=STORED_WORKLOADS["array-dwt"]),
    Workload("array-zarr-roundtrip", ("rask", "dask"), schedulers=("threads",),
             description=STORED_WORKLOADS["array-zarr-roundtrip"]),
    # examples/solar.rs against bench/solar_dask.py on a synthetic sun that
    # the rask example writes once into the cache (not timed).
    Workload("solar", ("rask", "dask"), schedulers=("threads",),
             description="the solar pipeline (examples/solar.rs vs bench/solar_dask.py) on "
                         "32 x 1024 x 1024 f32: gaussian, rechunk, DWT in time and space, "
                         "per-pixel statistics, light curve, results to Zarr"),
    # On a local cluster of 2 worker processes x 1 thread (scheduler
    # `distributed`); start-up and a warm-up task are not timed.
    Workload("futures-roundtrip", ("rask", "dask"), schedulers=("distributed",),
             description="200 x (submit inc + result), one after the other; ms per round trip"),
    Workload("futures-map-10k", ("rask", "dask"), schedulers=("distributed",),
             description="map inc over 10,000 ints + gather"),
    Workload("cluster-delayed-100k", ("rask", "dask"), schedulers=("distributed",),
             description="delayed-independent on the cluster: 100,000 remote inc leaves + "
                         "fan-in-64 sum_list tree (101,589 tasks run)"),
    Workload("cluster-array-sum-transpose", ("rask", "dask"), schedulers=("distributed",),
             description="array-sum-transpose on the cluster: (x + x.T).sum(), x 20,000^2"),
    # Dask would take many minutes for a million tasks on 2 workers.
    # A stored array larger than the memory limit, columns to rows: rask's
    # threads scheduler with memory-limit set vs a Dask LocalCluster whose
    # 2 workers share the same limit, P2P rechunk. Size and limit from
    # RASK_BENCH_RECHUNK_N / RASK_BENCH_RECHUNK_LIMIT (--rechunk-n, --rechunk-limit).
    Workload("array-rechunk-large", ("rask", "dask"), schedulers=("threads",),
             engine_schedulers=(("dask", ("distributed",)),), any_dask_scheduler=True,
             may_not_finish=True,
             description="(N, N) f64 from Zarr (N = 40,000: 12.8 GB), chunks (N, 100) -> (100, N), "
                         "row sums per row block, under a memory limit (2 GiB); rask threads with "
                         "memory-limit vs Dask LocalCluster 2 x limit/2, P2P rechunk"),
    Workload("scheduler-1m", ("rask",), schedulers=("distributed",),
             description="1,000,000 remote inc leaves + fan-in-64 tree sum (1,015,875 tasks) "
                         "through the scheduler; tasks/s and peak RSS, rask only"),
    # Dataframes on the synthetic telemetry (bench/df_workloads.py), generated
    # once into the cache; rask-bench needs its `dataframe` feature (bench/run
    # turns it on when one of these is asked for).
    # The group-bys also run as one query of the Polars crate (`polars-rs`;
    # the names are `QUERIES` in bench/src/dataframes.rs).
    *[Workload(name, ("rask", "dask", "polars")
               + (("polars-rs",) if name in ("df-groupby-low", "df-groupby-high",
                                            "df-join-groupby") else ()),
               schedulers=("threads",), description=desc)
      for name, desc in DF_WORKLOADS.items()],
    # TPC-H at SF1 on tpchgen-cli's data (bench/tpch.py), made once into the cache.
    *[Workload(name, ("rask", "dask", "polars", "polars-rs", "duckdb"), schedulers=("threads",),
               description=desc)
      for name, desc in TPCH_WORKLOADS.items()],
]}

DEFAULT_WORKLOADS = ["delayed-independent", "delayed-chain", "delayed-tree", "delayed-fanout"]

# Names that stand for several workloads on the command line.
GROUPS: dict[str, list[str]] = {
    "delayed": DEFAULT_WORKLOADS,
    # Graphs of millions of tasks, rask only by default (minutes with --repeat 3).
    "delayed-large": ["delayed-million", "delayed-10m"],
    "array": list(ARRAY_WORKLOADS),
    # Stored input (npy, Zarr) instead of random numbers; generated once into the cache.
    "array-stored": list(STORED_WORKLOADS),
    # Local clusters (a few minutes, Dask's cluster-delayed-100k most of it).
    "distributed": ["futures-roundtrip", "futures-map-10k", "cluster-delayed-100k",
                    "cluster-array-sum-transpose", "scheduler-1m"],
    # Dataframes: rask, dask.dataframe and Polars on the same telemetry files.
    "df": list(DF_WORKLOADS),
    # TPC-H queries at SF1: rask, dask.dataframe, Polars (Python and the crate) and DuckDB.
    "tpch": list(TPCH_WORKLOADS),
}


# ==========================================================================
# Measurement
# ==========================================================================
REQUIRED = {"workload": str, "engine": str, "scheduler": (str, type(None)), "tasks": int,
            "build_s": (int, float), "compute_s": (int, float), "repeat": int}


@dataclass
class Row:
    workload: str
    engine: str
    scheduler: str | None
    ok: bool = False
    error: str = ""
    tasks: int | None = None
    tasks_optimized: int | None = None  # graph size after optimization, when reported
    workers: int | None = None          # threads the scheduler computed with, when reported
    # rask delayed workloads: one compute taken apart (bench/src/pipeline.rs)
    merge_s: float | None = None        # add_to_graph + GraphBuilder::build
    optimize_s: float | None = None     # Plan::from_graph: cull, fuse, order
    run_s: float | None = None          # Executor::execute
    release_s: float | None = None      # dropping the plan + Collection::finalize
    ideal_s: float | None = None        # delayed-fanout threads rows: sync compute_s / workers
    ratio_ideal: float | None = None    # compute_s / ideal_s
    build_s: float | None = None
    compute_s: float | None = None
    repeat: int | None = None
    peak_rss_mb: float | None = None
    wall_s: float | None = None
    ratio_compute: float | None = None
    ratio_rss: float | None = None
    bound: "Bound | None" = None  # streaming array workloads only
    cluster: dict | None = None   # distributed workloads: start-up, CPU, RSS per process
    # may_not_finish workloads: False (and why) when the run did not finish
    finished: bool | None = None
    reason: str | None = None
    extra: dict | None = None     # array-rechunk-large: n, limit, memory manager figures
    command: list[str] = field(default_factory=list)

    @property
    def tasks_run(self) -> int | None:
        """Tasks the scheduler ran: after optimization when the engine says,
        else as built."""
        return self.tasks_optimized if self.tasks_optimized is not None else self.tasks

    @property
    def us_per_task(self) -> float | None:
        """compute_s per task *as run* (a fused chain counts once), µs."""
        if self.compute_s is None or not self.tasks_run or self.finished is False:
            return None
        return self.compute_s / self.tasks_run * 1e6

    @property
    def bytes_per_task(self) -> float | None:
        """Peak RSS per task as built, bytes."""
        if self.peak_rss_mb is None or not self.tasks:
            return None
        return self.peak_rss_mb * 1e6 / self.tasks


def _parse_result(stdout: str, row: Row) -> dict | str:
    """The single JSON object on stdout, or an error message.  Other lines
    are forwarded to stderr."""
    found: list[dict] = []
    for line in stdout.splitlines():
        s = line.strip()
        if s.startswith("{"):
            try:
                obj = json.loads(s)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                found.append(obj)
                continue
        if s:
            print(f"  [{row.engine} stdout] {line}", file=sys.stderr)
    if len(found) != 1:
        return f"expected exactly one JSON line on stdout, got {len(found)}"
    obj = found[0]
    for key, typ in REQUIRED.items():
        if key not in obj:
            return f"JSON line lacks {key!r}"
        if not isinstance(obj[key], typ) or isinstance(obj[key], bool):
            return f"JSON field {key!r} has the wrong type: {obj[key]!r}"
    for key in ("build_s", "compute_s"):
        if not math.isfinite(obj[key]) or obj[key] < 0:
            return f"JSON field {key!r} is not a finite non-negative number: {obj[key]!r}"
    for key, want in (("workload", row.workload), ("engine", row.engine), ("scheduler", row.scheduler)):
        if obj[key] != want:
            return f"JSON {key!r} is {obj[key]!r}, expected {want!r}"
    return obj


# Files of each stored input, read once before every engine's run so that
# both start from a warm page cache (Dask's graph construction reads a
# `.npy` whole to tokenize it, which would otherwise warm it for Dask only).
WARM_FILES: dict[str, tuple[str, ...]] = {
    "x20000": ("x20000.npy",),
    "matmul": ("x8000.npy", "y8000.npy"),
    "frames2048": ("frames2048.zarr",),
    "frames1024": ("frames1024.zarr",),
}


def warm_page_cache(workload: str) -> None:
    """Reads the stored input files of `workload` once (see WARM_FILES; the
    telemetry and TPC-H inputs are directories, read whole)."""
    for name in inputs.inputs_of([workload]):
        if name.startswith("rechunk"):
            continue  # larger than memory on purpose: it is read cold
        for rel in WARM_FILES.get(name, (name,)):
            path = cache_dir() / rel
            if not path.exists():
                continue
            files = [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
            for f in files:
                with open(f, "rb") as fh:
                    while fh.read(8 << 20):
                        pass


def measure(ctx: Context, engine: Engine, workload: str, scheduler: str | None,
            repeat: int, timeout: float) -> Row:
    row = Row(workload, engine.name, scheduler)
    warm_page_cache(workload)
    argv = (solar_command(ctx, engine.name, repeat) if workload == "solar"
            else engine.command(ctx, workload, scheduler, repeat))
    row.command = argv
    print(f"bench: {workload} / {engine.name} / {scheduler or '-'}: {shlex.join(argv)}",
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        # stderr is inherited (progress shows up live); stdout is collected.
        env = dict(os.environ)
        env["RASK_BENCH_CACHE"] = str(cache_dir())
        env["RASK_BENCH_DF_DIR"] = str(cache_dir() / df_workloads.input_name())
        wl = WORKLOADS.get(workload)
        if wl is not None:
            env.update(dict(wl.env))
        if engine.name == "rask":
            # rask multiplies blocks in parallel, one per worker: a BLAS that
            # starts its own threads per call would oversubscribe the cores.
            env.setdefault("OPENBLAS_NUM_THREADS", "1")
        # A workload that may not finish is killed with its whole process
        # group on timeout: Dask's worker processes too.
        own_group = bool(wl is not None and wl.may_not_finish)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                cwd=ROOT, text=True, env=env, start_new_session=own_group)
    except OSError as exc:
        row.error = f"cannot start: {exc}"
        return row

    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        try:
            if own_group:
                os.killpg(proc.pid, 9)
            else:
                proc.kill()
        except OSError:
            pass

    timer = threading.Timer(timeout, _kill)
    timer.daemon = True
    timer.start()
    try:
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        proc.stdout.close()
        # wait4 (not Popen.wait) so we get the child's rusage: ru_maxrss is the
        # peak resident set size of that process, in KiB on Linux.
        _, status, rusage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
    row.wall_s = time.perf_counter() - t0
    row.peak_rss_mb = rusage.ru_maxrss * 1024 / 1e6 if sys.platform != "darwin" \
        else rusage.ru_maxrss / 1e6  # macOS reports bytes

    if timed_out.is_set():
        _parse_result(stdout, row)  # still forward its output
        if own_group:
            row.ok, row.finished = True, False
            row.reason = f"timed out after {timeout:g} s (killed by the harness)"
        else:
            row.error = f"timed out after {timeout:g} s"
        return row
    if proc.returncode != 0:
        row.error = f"exit status {proc.returncode}"
        _parse_result(stdout, row)
        return row
    res = _parse_result(stdout, row)
    if isinstance(res, str):
        row.error = res
        return row
    row.ok = True
    row.tasks = res["tasks"]
    for key in ("tasks_optimized", "workers"):
        if isinstance(res.get(key), int) and not isinstance(res[key], bool):
            setattr(row, key, res[key])
    for key in ("merge_s", "optimize_s", "run_s", "release_s"):
        if isinstance(res.get(key), (int, float)) and not isinstance(res[key], bool):
            setattr(row, key, float(res[key]))
    if isinstance(res.get("cluster"), dict):
        row.cluster = res["cluster"]
    row.build_s = float(res["build_s"])
    row.compute_s = float(res["compute_s"])
    row.repeat = res["repeat"]
    if isinstance(res.get("finished"), bool):
        row.finished = res["finished"]
        row.reason = res.get("reason") if isinstance(res.get("reason"), str) else None
    if wl is not None and wl.may_not_finish:
        row.extra = {k: res[k] for k in ("n", "memory_limit_mb", "memory") if k in res}
        total = res.get("peak_rss_total_mb")
        if isinstance(total, (int, float)) and not isinstance(total, bool):
            # Dask's cluster: the sum of its processes' peaks (wait4 gives
            # only the largest one).
            row.extra["peak_rss_wait4_mb"] = row.peak_rss_mb
            row.peak_rss_mb = float(total)
    return row


def cache_dir() -> Path:
    """Where the stored inputs live: $RASK_BENCH_CACHE, else bench/.cache."""
    env = os.environ.get("RASK_BENCH_CACHE")
    return Path(env).resolve() if env else BENCH_DIR / ".cache"


# The solar workload: frames x side x side, its input store in the cache.
SOLAR_FRAMES, SOLAR_SIDE = 32, 1024
SOLAR_INPUT = f"sun-{SOLAR_FRAMES}x{SOLAR_SIDE}.zarr"


def solar_bin(ctx: Context) -> Path:
    """examples/solar.rs's binary, next to rask-bench (bench/run builds both)."""
    return ctx.rask_bin.parent / "examples" / "solar"


def solar_command(ctx: Context, engine: str, repeat: int) -> list[str]:
    sun = cache_dir() / SOLAR_INPUT
    out = cache_dir() / "out" / f"solar-{engine}"
    if engine == "rask":
        return [str(solar_bin(ctx)), "--input", str(sun), "--out", str(out), "--bench",
                "--repeat", str(repeat)]
    return [ctx.python, str(BENCH_DIR / "solar_dask.py"), "--input", str(sun), "--out", str(out),
            "--bench", "--repeat", str(repeat)]


def ensure_inputs(ctx: Context, workloads: list[str]) -> dict[str, float] | str:
    """Generates the stored inputs the workloads need (not timed); returns
    the seconds each generated one took, or an error."""
    cache = cache_dir()
    log = lambda m: print(f"bench: {m}", file=sys.stderr, flush=True)  # noqa: E731
    # In a process of its own: generating x (3.2 GB) here would raise this
    # process's peak RSS, which Linux hands down to every child forked later
    # (ru_maxrss of each measured engine would then read at least that).
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "from pathlib import Path\n"
        "import inputs\n"
        "log = lambda m: print('bench: ' + m, file=sys.stderr, flush=True)\n"
        f"made = inputs.ensure(Path({str(cache)!r}), inputs.inputs_of({workloads!r}), log=log)\n"
        "print(json.dumps(made))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return f"generating inputs in {cache} failed (exit status {proc.returncode}; see above)"
    try:
        made = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    except (ValueError, IndexError) as exc:
        return f"generating inputs in {cache}: unreadable report {proc.stdout!r}: {exc}"
    if "solar" in workloads:
        sun = cache / SOLAR_INPUT
        stamp = cache / (SOLAR_INPUT + ".done")
        if not stamp.exists():
            argv = [str(solar_bin(ctx)), "--frames", str(SOLAR_FRAMES), "--size", str(SOLAR_SIDE),
                    "--write-sun", str(sun)]
            log(f"generating the synthetic sun: {shlex.join(argv)}")
            t0 = time.perf_counter()
            proc = subprocess.run(argv, stdout=sys.stderr, cwd=ROOT)
            if proc.returncode != 0:
                return f"{shlex.join(argv)} exited with status {proc.returncode}"
            made["sun"] = time.perf_counter() - t0
            stamp.write_text("1\n")
    return made


def fill_ratios(rows: list[Row]) -> None:
    """Ratio to the dask row of the same workload and scheduler (for engines
    with a fixed baseline_scheduler, e.g. numpy, to that dask row)."""
    dask_rows = {(r.workload, r.scheduler): r for r in rows
                 if r.engine == "dask" and r.ok and r.finished is not False}
    for r in rows:
        if not r.ok or r.finished is False:
            continue
        eng = ENGINES.get(r.engine)
        sched = eng.baseline_scheduler if eng and eng.baseline_scheduler else r.scheduler
        wl = WORKLOADS.get(r.workload)
        if wl is not None and wl.any_dask_scheduler:
            base = next((b for (w, _), b in dask_rows.items() if w == r.workload), None)
        else:
            base = dask_rows.get((r.workload, sched))
        if base is None:
            continue
        if base.compute_s and r.compute_s is not None:
            r.ratio_compute = r.compute_s / base.compute_s
        if base.peak_rss_mb and r.peak_rss_mb is not None:
            r.ratio_rss = r.peak_rss_mb / base.peak_rss_mb


# ==========================================================================
# delayed-fanout: threads against the ideal parallel time
# ==========================================================================
FANOUT_WORKLOAD = "delayed-fanout"
FANOUT_WORK_S = 2_000 * 0.001  # 2,000 tasks x 1 ms of spinning


def fill_ideal(rows: list[Row]) -> None:
    """For each engine's threads row of delayed-fanout: ideal = that engine's
    sync compute_s (measured in this run) / the threads row's workers."""
    sync = {r.engine: r for r in rows
            if r.ok and r.workload == FANOUT_WORKLOAD and r.scheduler == "sync"}
    for r in rows:
        if not (r.ok and r.workload == FANOUT_WORKLOAD and r.scheduler == "threads"):
            continue
        base = sync.get(r.engine)
        if base is None or not r.workers or base.compute_s is None or r.compute_s is None:
            continue
        r.ideal_s = base.compute_s / r.workers
        r.ratio_ideal = r.compute_s / r.ideal_s if r.ideal_s else None


def print_ideal(rows: list[Row], out=sys.stdout) -> None:
    """Footer: delayed-fanout threads rows against the ideal."""
    fan = [r for r in rows if r.ok and r.workload == FANOUT_WORKLOAD and r.scheduler == "threads"]
    if not fan:
        return
    print(f"# {FANOUT_WORKLOAD}: ideal = that engine's sync compute_s / workers "
          f"(nominal work {FANOUT_WORK_S:g} s of spinning)", file=out)
    for r in fan:
        if r.ideal_s is None:
            print(f"#   {r.engine:<5} threads {r.compute_s:.3f} s: no ideal (run the sync "
                  f"scheduler too)", file=out)
            continue
        nominal = FANOUT_WORK_S / r.workers if r.workers else None
        print(f"#   {r.engine:<5} threads {r.compute_s:.3f} s, {r.workers} workers; ideal "
              f"{r.ideal_s:.3f} s (sync {r.ideal_s * r.workers:.3f} s / {r.workers}) = "
              f"{_ratio(r.ratio_ideal)} ideal"
              + (f"; {r.compute_s / nominal:.2f}x the nominal {nominal:.3f} s" if nominal else ""),
              file=out)
    out.flush()


def _mb(v: object) -> str:
    return f"{v:.0f}" if isinstance(v, (int, float)) else "-"


# Distributed workloads whose footer gives tasks per second (compute_s over
# the tasks run, or as built where the engine does not say).
THROUGHPUT_WORKLOADS = ("futures-map-10k", "cluster-delayed-100k", "scheduler-1m")


def print_rechunk_large(rows: list[Row], out=sys.stdout) -> None:
    """Footer of array-rechunk-large: finished or not, the limit, peak RSS
    against it, and each engine's memory figures."""
    rs = [r for r in rows if r.ok and r.workload in WORKLOADS
          and WORKLOADS[r.workload].may_not_finish]
    if not rs:
        return
    print("# array-rechunk-large: rask = threads scheduler with memory-limit; dask = LocalCluster "
          "2 workers x 1 thread, memory_limit = limit / 2 each, P2P rechunk; dask's peak RSS = "
          "scheduler + client process + each worker's peak (summed)", file=out)
    for r in rs:
        x = r.extra or {}
        limit = x.get("memory_limit_mb")
        n = x.get("n")
        state = ("finished" if r.finished is not False
                 else f"DID NOT FINISH ({_short(r.reason or '?', 160)})")
        rss = r.peak_rss_mb
        vs = (f" = {rss / limit:.2f}x the limit"
              if isinstance(limit, (int, float)) and limit and rss is not None else "")
        detail = ""
        m = x.get("memory")
        if isinstance(m, dict):
            detail = (f"; memory manager: peak RSS sampled {_mb(m.get('peak_rss_sampled_mb'))} MB, "
                      f"{m.get('spills', '-')} results spilled, {m.get('reads', '-')} read back")
        c = r.cluster or {}
        if c.get("workers_rss_mb") is not None:
            detail = (f"; scheduler + client {_mb(c.get('scheduler_rss_mb'))} MB, workers "
                      + ("/".join(_mb(v) for v in c.get("workers_rss_mb") or []) or "-") + " MB")
        print(f"#   {r.engine:<4}  n {n if n is not None else '?'}, limit "
              f"{_mb(limit)} MB: {state}; compute {_fmt(r.compute_s, '.1f')} s; peak RSS "
              f"{_fmt(rss, '.0f')} MB{vs}{detail}", file=out)
    out.flush()


def print_cluster(rows: list[Row], out=sys.stdout) -> None:
    """Footer: the distributed rows' start-up, per-operation figure, CPU
    seconds of each part in the best repeat, and peak RSS per process."""
    cl = [r for r in rows if r.ok and r.cluster is not None
          and not (r.workload in WORKLOADS and WORKLOADS[r.workload].may_not_finish)]
    if not cl:
        return
    print("# distributed: 2 worker processes x 1 thread; start-up (cluster + client + one task) "
          "not timed; cpu = CPU seconds in the best repeat (this process's threads by name, "
          "then each worker); RSS = peak MB of the process holding scheduler and client, "
          "and of each worker", file=out)
    wl = max(len(r.workload) for r in cl)
    for r in cl:
        c = r.cluster
        figure = ""
        if r.workload == "futures-roundtrip" and r.compute_s is not None and r.tasks:
            figure = (f"{r.compute_s / r.tasks * 1e3:.3f} ms/round trip (median "
                      f"{c.get('roundtrip_median_ms', float('nan')):.3f}, min "
                      f"{c.get('roundtrip_min_ms', float('nan')):.3f})")
        elif r.workload in THROUGHPUT_WORKLOADS and r.compute_s and r.tasks_run:
            figure = f"{r.tasks_run / r.compute_s:,.0f} tasks/s"
        if isinstance(c.get("submit_s"), (int, float)):
            figure += f", submit {c['submit_s']:.3f} s"
            if isinstance(c.get("plan_s"), (int, float)):
                figure += f" (plan {c['plan_s']:.3f} s)"
            if isinstance(c.get("wait_s"), (int, float)):
                figure += f" + wait {c['wait_s']:.3f} s"

        cpu = c.get("cpu_s") or {}
        threads = ", ".join(f"{k} {v:.2f}" for k, v in (cpu.get("threads") or {}).items()) or "-"
        workers = "/".join(f"{v:.2f}" for v in cpu.get("workers") or [])
        wrss = "/".join(_mb(v) for v in c.get("workers_rss_mb") or [])
        if cpu.get("scheduler_process") is not None:
            threads += f"; scheduler process {cpu['scheduler_process']:.2f}"
            if r.tasks_run and cpu["scheduler_process"] > 0:
                # The scheduler's own capacity: tasks per second of its CPU
                # (what it would sustain with a core to itself).
                figure += (f" ({r.tasks_run / cpu['scheduler_process']:,.0f} tasks "
                           f"per scheduler CPU-second)")
        if c.get("scheduler_process"):
            rss = (f"scheduler process {_mb(c.get('scheduler_rss_mb'))} MB, "
                   f"client {_mb(c.get('client_rss_mb'))} MB")
        else:
            rss = f"scheduler + client {_mb(c.get('scheduler_rss_mb'))} MB"
        start = c.get("startup_s")
        figure = figure or "-"
        print(f"#   {r.workload:<{wl}}  {r.engine:<4}  start-up "
              f"{_fmt(start if isinstance(start, (int, float)) else None, '.2f')} s  |  {figure}  |  "
              f"cpu {threads}; workers {workers}  |  RSS {rss}, "
              f"workers {wrss} MB", file=out)
    out.flush()


def print_phases(rows: list[Row], out=sys.stdout) -> None:
    """Footer: where rask's time goes on the delayed workloads (one extra,
    untimed-by-the-main-loop compute per row)."""
    ph = [r for r in rows if r.ok and r.merge_s is not None]
    if not ph:
        return
    print("# where the time goes (rask, one extra compute on a fresh graph, seconds): merge = "
          "add_to_graph + GraphBuilder::build, optimize = Plan::from_graph (cull, fuse, order), "
          "run = Executor::execute, release = drop the plan + finalize", file=out)
    wl = max(len(r.workload) for r in ph)

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    for r in ph:
        parts = [r.merge_s, r.optimize_s, r.run_s, r.release_s]
        total = sum(v for v in parts if v is not None)
        per = (f"  run/task {r.run_s / r.tasks_run * 1e6:.2f} us"
               if r.run_s is not None and r.tasks_run else "")
        print(f"#   {r.workload:<{wl}}  {r.scheduler or '-':<7}  merge {f(r.merge_s):>7}  "
              f"optimize {f(r.optimize_s):>7}  run {f(r.run_s):>7}  release {f(r.release_s):>7}  "
              f"= {total:.4f} (compute_s {r.compute_s:.4f}){per}", file=out)
    out.flush()


# ==========================================================================
# Memory-bandwidth bound of the streaming array workloads
# (bench/README.md, "Memory-bandwidth bound")
# ==========================================================================
# How often x must at least cross memory: (writes, reads).  Workloads not
# listed (array-matmul) are bound by arithmetic, not memory.
TRAFFIC: dict[str, tuple[int, int]] = {
    "array-sum": (1, 1),
    "array-sum-transpose": (1, 2),
    "array-mean-axis0": (1, 1),
    "array-std": (1, 1),
}
# Its rask threads compute time is the generation floor of the others.
GENERATION_WORKLOAD = "array-sum"


@dataclass(frozen=True)
class Bandwidth:
    read_gbs: float
    write_gbs: float
    threads: int
    nbytes: float


@dataclass(frozen=True)
class Bound:
    nbytes: int          # bytes of x
    writes: int
    reads: int
    memory_s: float      # writes x nbytes / write bandwidth + reads x nbytes / read bandwidth
    generation_s: float | None  # rask threads compute_s of GENERATION_WORKLOAD, this run

    def ratio_memory(self, compute_s: float) -> float:
        return compute_s / self.memory_s

    def ratio_generation(self, compute_s: float) -> float | None:
        return compute_s / self.generation_s if self.generation_s else None


def measure_bandwidth(ctx: Context, timeout: float) -> Bandwidth | str:
    """Runs `rask-bench bandwidth`; the measurement, or why there is none."""
    argv = [str(ctx.rask_bin), "bandwidth"]
    print(f"bench: memory bandwidth: {shlex.join(argv)}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"rask-bench bandwidth failed: {exc}"
    if proc.returncode != 0:
        return f"rask-bench bandwidth exited with {proc.returncode}: {proc.stderr.strip()[-500:]}"
    try:
        obj = json.loads(proc.stdout.strip().splitlines()[-1])
        bw = Bandwidth(float(obj["read_gbs"]), float(obj["write_gbs"]), int(obj["threads"]),
                       float(obj["bytes"]))
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"rask-bench bandwidth printed no usable JSON ({exc}): {proc.stdout[-300:]!r}"
    print(f"bench: memory bandwidth: read {bw.read_gbs:.1f} GB/s, write {bw.write_gbs:.1f} GB/s "
          f"({bw.threads} threads, {bw.nbytes / 2**30:g} GiB)", file=sys.stderr, flush=True)
    return bw


def generation_floor(rows: list[Row]) -> float | None:
    for r in rows:
        if (r.ok and r.workload == GENERATION_WORKLOAD and r.engine == "rask"
                and r.scheduler == "threads"):
            return r.compute_s
    return None


def fill_bounds(rows: list[Row], all_rows: list[Row], bw: Bandwidth | None) -> None:
    """The bound of each ok row of a streaming workload; the generation floor
    comes from the rask array-sum row among `all_rows` (measured so far)."""
    if bw is None:
        return
    gen = generation_floor(all_rows)
    for r in rows:
        if not r.ok or r.workload not in TRAFFIC:
            continue
        writes, reads = TRAFFIC[r.workload]
        n = ARRAY_WORKLOADS[r.workload].n
        nbytes = n * n * 8
        memory_s = writes * nbytes / (bw.write_gbs * 1e9) + reads * nbytes / (bw.read_gbs * 1e9)
        r.bound = Bound(nbytes, writes, reads, memory_s, gen)


def print_bounds(rows: list[Row], bw: Bandwidth | str | None, out=sys.stdout) -> None:
    """Footer: each streaming workload's bound and rask's ratio to it."""
    if bw is None:
        return
    if isinstance(bw, str):
        print(f"# memory-bandwidth bound: not measured ({bw})", file=out)
        return
    gen = generation_floor(rows)
    print(f"# memory-bandwidth bound (bench/README.md): measured read {bw.read_gbs:.1f} GB/s, "
          f"write {bw.write_gbs:.1f} GB/s ({bw.threads} threads, {bw.nbytes / 2**30:g} GiB buffer); "
          f"generation floor: " + (f"rask {GENERATION_WORKLOAD} threads {gen:.3f} s" if gen
                                   else f"- (run {GENERATION_WORKLOAD} with rask threads)"),
          file=out)
    width = max(len(w) for w in TRAFFIC)
    for r in rows:
        if r.bound is None or r.engine != "rask" or r.scheduler != "threads":
            continue
        b = r.bound
        gen_ratio = b.ratio_generation(r.compute_s)
        print(f"#   {r.workload:<{width}}  x {b.nbytes / 1e9:.2f} GB written {b.writes}x, read "
              f"{b.reads}x: bound {b.memory_s:.3f} s; rask threads {r.compute_s:.3f} s = "
              f"{_ratio(b.ratio_memory(r.compute_s))} bound, {_ratio(gen_ratio)} generation floor",
              file=out)
    out.flush()


# ==========================================================================
# Machine description and output
# ==========================================================================
def machine_info() -> dict:
    info: dict = {"cpus": os.cpu_count()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    mem_kib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
                    break
    except OSError:
        pass
    info["mem_gib"] = round(mem_kib / 2**20, 1) if mem_kib else None
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model", "Processor"):
                    model = val.strip()
                    break
    except OSError:
        pass
    info["cpu_model"] = model or platform.processor() or platform.machine() or "unknown"
    try:  # other work on the machine skews timings, spinning workloads most
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        info["loadavg_1m"] = None
    info["python"] = platform.python_version()
    try:
        from importlib.metadata import version
        info["dask"] = version("dask")
    except Exception:
        info["dask"] = None
    return info


def _fmt(v: float | int | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _short(text: str, width: int = 100) -> str:
    """The first line of `text`, cut to `width` characters (the JSON keeps all)."""
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= width else line[:width - 3] + "..."


def _ratio(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}x" if v >= 0.995 else f"{v:.3g}x"  # keep 3 digits for big speed-ups


COLUMNS = [  # (title, align)
    ("workload", "<"), ("engine", "<"), ("scheduler", "<"), ("tasks", ">"), ("run", ">"),
    ("build_s", ">"), ("compute_s", ">"), ("us/task", ">"), ("peak_rss_MB", ">"),
    ("B/task", ">"), ("compute/dask", ">"), ("rss/dask", ">"), ("note", "<"),
]


def table_cells(r: Row) -> list[str]:
    return [
        r.workload, r.engine, r.scheduler or "-",
        _fmt(r.tasks, ","), _fmt(r.tasks_optimized, ","),
        _fmt(r.build_s, ".4f"), _fmt(r.compute_s, ".4f"),
        _fmt(r.us_per_task, ".2f"), _fmt(r.peak_rss_mb, ".1f"), _fmt(r.bytes_per_task, ",.0f"),
        _ratio(r.ratio_compute), _ratio(r.ratio_rss),
        (f"DID NOT FINISH: {_short(r.reason or '?')}" if r.finished is False else "")
        if r.ok else f"ERROR: {r.error}",
    ]


def print_table(rows: list[Row], header: str, out=sys.stdout) -> None:
    cells = [table_cells(r) for r in rows]
    titles = [c[0] for c in COLUMNS]
    widths = [max([len(t)] + [len(c[i]) for c in cells]) for i, t in enumerate(titles)]

    def line(vals: list[str]) -> str:
        parts = [format(v, f"{a}{w}") for v, w, (_, a) in zip(vals, widths, COLUMNS)]
        return "  ".join(parts).rstrip()

    print(header, file=out)
    print(line(titles), file=out)
    print(line(["-" * w for w in widths]), file=out)
    prev = None
    for r, c in zip(rows, cells):
        if prev is not None and r.workload != prev:
            print(file=out)
        prev = r.workload
        print(line(c), file=out)
    out.flush()


def row_json(r: Row, date: str, machine: dict) -> dict:
    b = r.bound
    return {
        "workload": r.workload, "engine": r.engine, "scheduler": r.scheduler,
        "status": "ok" if r.ok else "error", "error": r.error or None,
        "tasks": r.tasks, "tasks_optimized": r.tasks_optimized, "workers": r.workers,
        "build_s": r.build_s, "compute_s": r.compute_s,
        "us_per_task": r.us_per_task, "peak_rss_mb": r.peak_rss_mb,
        "bytes_per_task": r.bytes_per_task,
        "merge_s": r.merge_s, "optimize_s": r.optimize_s, "run_s": r.run_s,
        "release_s": r.release_s,
        "ideal_s": r.ideal_s, "ratio_ideal": r.ratio_ideal,
        "ratio_compute": r.ratio_compute, "ratio_rss": r.ratio_rss,
        "bound_memory_s": b.memory_s if b else None,
        "bound_generation_s": b.generation_s if b else None,
        "ratio_bound_memory": b.ratio_memory(r.compute_s) if b and r.compute_s is not None else None,
        "ratio_bound_generation": (b.ratio_generation(r.compute_s)
                                   if b and r.compute_s is not None else None),
        "cluster": r.cluster,
        "finished": r.finished, "reason": r.reason, "extra": r.extra,
        "repeat": r.repeat, "wall_s": r.wall_s, "date": date, "machine": machine,
    }


# ==========================================================================
# CLI
# ==========================================================================
def default_rask_bin() -> Path:
    env = os.environ.get("RASK_BENCH_BIN")  # set by bench/run
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    if not target.is_absolute():
        target = ROOT / target
    return target / "release" / "rask-bench"


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="Run rask and Dask on the same workloads and compare them.",
        epilog="Workloads: " + "; ".join(
            f"{w.name}: {w.description} [{','.join(w.selected(None))}]" for w in WORKLOADS.values()),
    )
    p.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                   help=f"workloads to run (default: {' '.join(DEFAULT_WORKLOADS)}); "
                        f"groups: {', '.join(GROUPS)}")
    p.add_argument("--json", action="store_true", help="print one JSON object per row instead of a table")
    p.add_argument("--repeat", type=int, default=3, help="runs per measurement; minimum is reported (default 3)")
    p.add_argument("--engines", type=_csv, default=None,
                   help=f"comma-separated engines (default: each workload's own; known: {','.join(ENGINES)})")
    p.add_argument("--schedulers", type=_csv, default=None,
                   help="comma-separated schedulers for rask/dask (default: each workload's own: "
                        "threads,sync for delayed, threads for arrays, distributed for the "
                        "cluster workloads)")
    p.add_argument("--rask-bin", type=Path, default=None,
                   help="rask-bench binary (default: target/release/rask-bench, honouring CARGO_TARGET_DIR)")
    p.add_argument("--save", type=Path, metavar="DIR", default=None,
                   help="also write the JSON lines to DIR/<timestamp>.jsonl")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds before one measurement subprocess is killed (default 1800)")
    p.add_argument("--no-bound", action="store_true",
                   help="do not measure the memory bandwidth for the array workloads' bound")
    p.add_argument("--df-rows", type=int, default=None, metavar="N",
                   help=f"rows of the dataframe workloads' telemetry (default "
                        f"{df_workloads.DF_ROWS:,}; generated once per size into the cache)")
    p.add_argument("--rechunk-n", type=int, default=None, metavar="N",
                   help="side of array-rechunk-large's array (sets RASK_BENCH_RECHUNK_N; "
                        "default 40000, 12.8 GB; a multiple of 100)")
    p.add_argument("--rechunk-limit", default=None, metavar="BYTES",
                   help="memory limit of array-rechunk-large, e.g. 512MiB (sets "
                        "RASK_BENCH_RECHUNK_LIMIT; default 2GiB)")
    p.add_argument("--list", action="store_true", help="list workloads and exit")
    args = p.parse_args(argv)
    if args.df_rows is not None:
        if args.df_rows < 1000:
            p.error("--df-rows must be at least 1000")
        # Read by inputs.py (in the generating process) and df_workloads.
        os.environ["RASK_BENCH_DF_ROWS"] = str(args.df_rows)

    if args.list:
        for w in WORKLOADS.values():
            print(f"{w.name:22} {w.description}  [default engines: {','.join(w.selected(None))}; "
                  f"available: {','.join(w.engines)}; schedulers: {','.join(w.schedulers)}"
                  + "".join(f" ({e}: {','.join(ss)})" for e, ss in w.engine_schedulers) + "]")
        for g, members in GROUPS.items():
            print(f"{g:22} group: {' '.join(members)}")
        return 0
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.rechunk_n is not None:
        if args.rechunk_n <= 0 or args.rechunk_n % 100:
            p.error("--rechunk-n must be a positive multiple of 100")
        os.environ["RASK_BENCH_RECHUNK_N"] = str(args.rechunk_n)
    if args.rechunk_limit is not None:
        os.environ["RASK_BENCH_RECHUNK_LIMIT"] = args.rechunk_limit
    workloads: list[str] = []
    for w in args.workloads or DEFAULT_WORKLOADS:
        for name in GROUPS.get(w, [w]):
            if name not in workloads:
                workloads.append(name)
    # The generation floor of the other array workloads is measured first.
    if GENERATION_WORKLOAD in workloads:
        workloads.remove(GENERATION_WORKLOAD)
        first_array = next((i for i, w in enumerate(workloads) if w in TRAFFIC), len(workloads))
        workloads.insert(first_array, GENERATION_WORKLOAD)
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s): {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    if args.engines is not None:
        bad = [e for e in args.engines if e not in ENGINES]
        if bad:
            p.error(f"unknown engine(s): {', '.join(bad)}; known: {', '.join(ENGINES)}")
    if args.schedulers is not None:
        bad = [s for s in args.schedulers if s not in SCHEDULERS]
        if bad:
            p.error(f"unknown scheduler(s): {', '.join(bad)}; known: {', '.join(SCHEDULERS)}")

    ctx = Context(rask_bin=(args.rask_bin or default_rask_bin()).resolve())

    plan: list[tuple[str, Engine, str | None]] = []
    for wname in workloads:
        wl = WORKLOADS[wname]
        for ename in wl.selected(args.engines):
            eng = ENGINES[ename]
            scheds = args.schedulers if args.schedulers is not None else wl.schedulers_of(ename)
            for sched in eng.schedulers:
                if sched is not None and sched not in scheds:
                    continue
                plan.append((wname, eng, sched))
    if not plan:
        p.error("nothing to run: no workload supports the selected engines/schedulers")
    if any(e.name in ("rask", "polars-rs") for _, e, _ in plan) and not ctx.rask_bin.is_file():
        print(f"bench: warning: rask binary {ctx.rask_bin} not found "
              f"(build it with `cargo build --release -p rask-bench` or pass --rask-bin)", file=sys.stderr)

    now = _dt.datetime.now(_dt.timezone.utc)
    date = now.isoformat(timespec="seconds")
    machine = machine_info()
    bandwidth: Bandwidth | str | None = None
    if not args.no_bound and any(w in TRAFFIC for w, _, _ in plan):
        if ctx.rask_bin.is_file():
            bandwidth = measure_bandwidth(ctx, args.timeout)
        else:
            bandwidth = f"no rask binary at {ctx.rask_bin}"
        if isinstance(bandwidth, Bandwidth):
            machine["mem_read_gbs"] = round(bandwidth.read_gbs, 2)
            machine["mem_write_gbs"] = round(bandwidth.write_gbs, 2)
        else:
            print(f"bench: warning: memory bandwidth not measured: {bandwidth}", file=sys.stderr)
    generated: dict[str, float] | str = {}
    if any(w in inputs.NEEDS or w in DF_WORKLOADS or w in TPCH_WORKLOADS or w == "solar"
           for w, _, _ in plan):
        generated = ensure_inputs(ctx, [w for w, _, _ in plan])
        if isinstance(generated, str):
            print(f"bench: error: {generated}", file=sys.stderr)
        else:
            machine["inputs_generated_s"] = {k: round(v, 2) for k, v in generated.items()}
    header = (f"# rask bench  {now.strftime('%Y-%m-%d %H:%M:%S UTC')}  |  "
              f"{machine['cpus']} CPUs, {machine['mem_gib']} GiB RAM, {machine['cpu_model']}  |  "
              f"python {machine['python']}, dask {machine['dask'] or '?'}  |  repeat {args.repeat}  |  "
              f"load {machine.get('loadavg_1m', '?')}")

    rows: list[Row] = []
    json_lines: list[str] = []
    by_workload: dict[str, list[Row]] = {}
    for i, (wname, eng, sched) in enumerate(plan):
        r = measure(ctx, eng, wname, sched, args.repeat, args.timeout)
        status = (f"compute {r.compute_s:.4f}s, peak RSS {r.peak_rss_mb:.1f} MB" if r.ok
                  else f"FAILED: {r.error}")
        print(f"bench: [{i + 1}/{len(plan)}] {wname} / {eng.name} / {sched or '-'}: {status}",
              file=sys.stderr, flush=True)
        rows.append(r)
        by_workload.setdefault(wname, []).append(r)
        last_of_workload = i + 1 == len(plan) or plan[i + 1][0] != wname
        if last_of_workload:
            fill_ratios(by_workload[wname])
            fill_ideal(by_workload[wname])
            fill_bounds(by_workload[wname], rows,
                        bandwidth if isinstance(bandwidth, Bandwidth) else None)
            for wr in by_workload[wname]:
                line = json.dumps(row_json(wr, date, machine))
                json_lines.append(line)
                if args.json:
                    print(line, flush=True)

    if not args.json:
        print_table(rows, header)
        print_phases(rows)
        print_ideal(rows)
        print_bounds(rows, bandwidth)
        print_cluster(rows)
        print_rechunk_large(rows)
        if any(r.workload in inputs.NEEDS or r.workload in DF_WORKLOADS
               or r.workload in TPCH_WORKLOADS or r.workload == "solar" for r in rows):
            if isinstance(generated, str):
                print(f"# stored inputs: {generated}")
            elif generated:
                print(f"# stored inputs generated before the measurements (not timed) in "
                      f"{cache_dir()}: " + ", ".join(f"{k} {v:.1f} s" for k, v in generated.items()))
            else:
                print(f"# stored inputs: reused from {cache_dir()} (generated by an earlier run)")

    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        path = args.save / f"{now.strftime('%Y%m%dT%H%M%SZ')}.jsonl"
        path.write_text("".join(line + "\n" for line in json_lines))
        print(f"bench: saved {len(json_lines)} rows to {path}", file=sys.stderr)

    failed = [r for r in rows if not r.ok]
    if failed:
        print(f"bench: {len(failed)} of {len(rows)} measurements failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
