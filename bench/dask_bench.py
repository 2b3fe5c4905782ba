#!/usr/bin/env python3
"""Dask side of the rask benchmarks.

    python bench/dask_bench.py WORKLOAD [--scheduler threads|sync|distributed] [--repeat N]

Builds the workload's task graph (``dask.delayed`` for ``delayed-*``,
``dask.array`` for ``array-*``), computes it with
``dask.compute(result, scheduler=...)``, checks the answer, and prints exactly
one JSON line on stdout:

    {"workload": ..., "engine": "dask", "scheduler": ..., "tasks": ...,
     "build_s": ..., "compute_s": ..., "repeat": ...}

(plus ``tasks_optimized``: the graph size after ``dask.optimize``, counted
outside the timed runs; ``tasks`` is the size of the graph as built; and
``workers``: threads of the scheduler.)

``build_s`` / ``compute_s`` are the minimum over ``--repeat`` runs; the graph
is rebuilt from scratch for every run.  Everything else goes to stderr.

The distributed workloads (``futures-*``, ``cluster-*``; ``--scheduler
distributed``) run on ``dask.distributed.LocalCluster(n_workers=2,
threads_per_worker=1, processes=True)``, started once and warmed up with one
task before the timed repeats (its start-up is reported in ``cluster``).
A wrong result exits with status 1.

The definitions must match the Rust side (``rask-bench``) exactly; they are
documented in bench/README.md ("Workloads").
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import Callable, NamedTuple

import dask
from dask import delayed

from df_workloads import DF_WORKLOADS, run_dask as run_dask_df
from tpch import TPCH_WORKLOADS, run_dask as run_dask_tpch
from array_workloads import (ARRAY_WORKLOADS, DWT_RECHUNK, GAUSS_DEPTH, GAUSS_SIGMA, SEED,
                             STORED_WORKLOADS, emit_row)


# --------------------------------------------------------------------------
# Task functions (module level so they are ordinary, cheap Python callables).
# --------------------------------------------------------------------------
def inc(x: int) -> int:
    return x + 1


def add(a: int, b: int) -> int:
    return a + b


def sum_list(xs: list[int]) -> int:
    return sum(xs)


def one() -> int:
    return 1


def spin(seconds: float) -> None:
    """Busy-waits on the clock: CPU work of a known duration (the same loop
    as ``spin`` in bench/src/delayed.rs)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


FANOUT_SPIN_S = 0.001


def spin_add(r: int, i: int) -> int:
    spin(FANOUT_SPIN_S)
    return r + i


# --------------------------------------------------------------------------
# Graph builders: each returns (result Delayed, number of delayed calls).
# --------------------------------------------------------------------------
FAN_IN = 64


def tree_sum(level: list, fan_in: int = FAN_IN) -> tuple[object, int]:
    """Reduce ``level`` with ``delayed(sum_list)`` over consecutive chunks of
    ``fan_in`` until one node remains.  Returns (root, calls made)."""
    calls = 0
    while len(level) > 1:
        level = [delayed(sum_list)(level[i:i + fan_in]) for i in range(0, len(level), fan_in)]
        calls += len(level)
    return level[0], calls


def build_independent(n: int) -> tuple[object, int]:
    leaves = [delayed(inc)(i) for i in range(n)]
    root, calls = tree_sum(leaves)
    return root, n + calls


def build_chain(n: int) -> tuple[object, int]:
    x = delayed(inc)(0)
    for _ in range(n - 1):
        x = delayed(inc)(x)
    return x, n


def build_tree(n_leaves: int) -> tuple[object, int]:
    level = [delayed(inc)(i) for i in range(n_leaves)]
    calls = n_leaves
    while len(level) > 1:
        nxt = [delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:  # odd count: carry the last node up unchanged
            nxt.append(level[-1])
        calls += len(level) // 2
        level = nxt
    return level[0], calls


def build_fanout(n: int) -> tuple[object, int]:
    root = delayed(one)()
    leaves = [delayed(spin_add)(root, i) for i in range(n)]
    top, calls = tree_sum(leaves)
    return top, 1 + n + calls


def sum_inc(n: int) -> int:
    """sum(i + 1 for i in range(n))"""
    return n * (n + 1) // 2


class Workload(NamedTuple):
    build: Callable[[], tuple[object, int]]
    expected_tasks: int
    expected_result: int


WORKLOADS: dict[str, Workload] = {
    # 100_000 inc leaves + fan-in-64 tree sum: 100_000 + 1_563 + 25 + 1 tasks.
    "delayed-independent": Workload(lambda: build_independent(100_000), 101_589, sum_inc(100_000)),
    # inc(0) then 9_999 x inc(x): 10_000 tasks, result 10_000.
    "delayed-chain": Workload(lambda: build_chain(10_000), 10_000, 10_000),
    # 100_000 inc leaves, pairwise add level by level: 100_000 + 99_999 tasks.
    # (rask builds each add as zip + map: two tasks, fused into one.)
    "delayed-tree": Workload(lambda: build_tree(100_000), 199_999, sum_inc(100_000)),
    # 1_000_000 inc leaves + fan-in-64 tree sum: 1_000_000 + 15_625 + 245 + 4 + 1 tasks.
    "delayed-million": Workload(lambda: build_independent(1_000_000), 1_015_875, sum_inc(1_000_000)),
    # one() root, 2_000 x spin_add(root, i) spinning 1 ms each, fan-in-64 tree sum:
    # 1 + 2_000 + 32 + 1 tasks; result 2_000 * 1 + sum(range(2_000)).
    "delayed-fanout": Workload(lambda: build_fanout(2_000), 2_034, 2_000 + 1_999_000),
}


def workers(scheduler: str) -> int:
    """Threads the scheduler computes with (Dask's threaded default: one per CPU)."""
    if scheduler == "sync":
        return 1
    from dask.system import CPU_COUNT
    return int(dask.config.get("num_workers", None) or CPU_COUNT)


def random_x(n: int, chunks: tuple[int, int]):
    """x: uniform [0, 1) float64, n x n, in blocks of ``chunks``, drawn with
    NumPy's default Generator (PCG64) per block, lazily inside compute."""
    import dask.array as da

    return da.random.default_rng(SEED).random((n, n), chunks=chunks)


def run_array(name: str, scheduler: str, repeat: int) -> int:
    import dask.array  # noqa: F401  (imported here, not in the timed build; delayed rows never load it)

    wl = ARRAY_WORKLOADS[name]
    builds: list[float] = []
    computes: list[float] = []
    for r in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        x = random_x(wl.n, wl.chunks)
        expr = wl.expr(x)
        t1 = time.perf_counter()
        (value,) = dask.compute(expr, scheduler=scheduler)
        t2 = time.perf_counter()
        err = wl.check(wl.n, value)
        if err:
            print(f"dask_bench: {name}: wrong result: {err}", file=sys.stderr)
            return 1
        builds.append(t1 - t0)
        computes.append(t2 - t1)
        print(f"dask_bench: {name} {scheduler} run {r + 1}/{repeat}: "
              f"build {t1 - t0:.4f}s compute {t2 - t1:.4f}s", file=sys.stderr)
        del x, expr, value
    # Counted outside the timed runs, on a fresh graph: the graph as built,
    # and what dask.compute runs after optimization.
    expr = wl.expr(random_x(wl.n, wl.chunks))
    tasks = len(expr.__dask_graph__())
    (optimized,) = dask.optimize(expr)
    emit_row(name, "dask", scheduler, tasks, min(builds), min(computes), repeat,
             tasks_optimized=len(optimized.__dask_graph__()), workers=workers(scheduler))
    return 0


# --------------------------------------------------------------------------
# Array workloads on stored input (bench/inputs.py wrote it into
# $RASK_BENCH_CACHE); the same definitions as bench/src/stored.rs.
# --------------------------------------------------------------------------
def _gauss_block(b):
    from scipy import ndimage
    return ndimage.gaussian_filter(b, sigma=GAUSS_SIGMA, mode="reflect")


def _dwt_energy_block(b):
    """Sum of squares of each of the 4 coefficient arrays of a 3-level db4
    transform along time (axis 0, whole in the block), as a (1, 1, 4) block."""
    import numpy as np
    import pywt
    coeffs = pywt.wavedec(b, "db4", mode="symmetric", level=3, axis=0)
    return np.array([np.sum(np.square(c), dtype=np.float64) for c in coeffs]).reshape(1, 1, 4)


def _stored_graph(name: str, cache):
    """("value", lazy result) or ("write", lazy array, output path)."""
    import dask.array as da
    import numpy as np

    if name == "array-npy-sum-transpose":
        x = da.from_array(np.load(cache / "x20000.npy", mmap_mode="r"), chunks=(1_000, 1_000))
        return "value", (x + x.T).sum(), None
    if name == "array-matmul-general":
        x = da.from_array(np.load(cache / "x8000.npy", mmap_mode="r"), chunks=(1_000, 1_000))
        y = da.from_array(np.load(cache / "y8000.npy", mmap_mode="r"), chunks=(1_000, 1_000))
        return "value", (x @ y).sum(), None
    out = cache / "out" / f"{name}-dask.zarr"
    if name == "array-gaussian":
        x = da.from_zarr(str(cache / "frames2048.zarr"))
        smooth = x.map_overlap(_gauss_block, depth={0: 0, 1: GAUSS_DEPTH, 2: GAUSS_DEPTH},
                               boundary="none", dtype=np.float32)
        return "write", smooth, out
    if name == "array-zarr-roundtrip":
        return "write", da.from_zarr(str(cache / "frames2048.zarr")), out
    if name == "array-dwt":
        x = da.from_zarr(str(cache / "frames1024.zarr")).rechunk(DWT_RECHUNK)
        e = x.map_blocks(_dwt_energy_block, chunks=(1, 1, 4), dtype=np.float64)
        return "value", e.sum(axis=(0, 1)), None
    raise ValueError(name)


def _check_stored(name: str, cache, value, out) -> str | None:
    import json
    import numpy as np
    import zarr

    ref = json.loads((cache / "reference.json").read_text())

    def near(what, got, want, rel):
        if not abs((got - want) / want) <= rel:
            return f"{what} = {got!r}, expected {want!r} within {rel:g} relative"
        return None

    if name == "array-npy-sum-transpose":
        return near("(x + x.T).sum()", float(value), 2 * ref["x20000_sum"], 1e-9)
    if name == "array-matmul-general":
        return near("(x @ y).sum()", float(value), ref["matmul_sum"], 1e-9)
    if name == "array-dwt":
        for i, (g, w) in enumerate(zip(np.asarray(value), ref["dwt_sumsq"])):
            err = near(f"sum of squares of coefficient array {i}", float(g), w, 1e-4)
            if err:
                return err
        return None
    y = zarr.open_array(str(out), mode="r")
    if name == "array-gaussian":
        for t, which in ((0, "first"), (y.shape[0] - 1, "last")):
            want = np.load(cache / f"gaussian_{which}.npy")[0]
            diff = float(np.max(np.abs(y[t] - want)))
            if not diff <= 1e-5:
                return f"frame {t} differs from scipy.ndimage.gaussian_filter by up to {diff:g}"
        return None
    if name == "array-zarr-roundtrip":
        x = zarr.open_array(str(cache / "frames2048.zarr"), mode="r")
        for t in (0, x.shape[0] // 2, x.shape[0] - 1):
            if not np.array_equal(x[t], y[t]):
                return f"frame {t} of the copy differs from the input"
        if "zstd" not in (out / "zarr.json").read_text():
            return "the copy is not zstd-compressed"
        return None
    raise ValueError(name)


def run_stored(name: str, scheduler: str, repeat: int) -> int:
    import os
    from pathlib import Path

    import dask.array as da

    cache = os.environ.get("RASK_BENCH_CACHE")
    if not cache or not (Path(cache) / "reference.json").is_file():
        print(f"dask_bench: {name} reads the inputs bench/run generates (bench/inputs.py); "
              f"RASK_BENCH_CACHE={cache!r} has none", file=sys.stderr)
        return 1
    cache = Path(cache)
    builds: list[float] = []
    computes: list[float] = []
    for r in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        kind, expr, out = _stored_graph(name, cache)
        if kind == "write":
            out.parent.mkdir(parents=True, exist_ok=True)
            target = da.to_zarr(expr, str(out), overwrite=True, compute=False)
        t1 = time.perf_counter()
        if kind == "write":
            dask.compute(target, scheduler=scheduler)
            value = None
        else:
            (value,) = dask.compute(expr, scheduler=scheduler)
        t2 = time.perf_counter()
        err = _check_stored(name, cache, value, out)
        if out is not None:  # a GiB each; the disk is shared
            import shutil
            shutil.rmtree(out, ignore_errors=True)
        if err:
            print(f"dask_bench: {name}: wrong result: {err}", file=sys.stderr)
            return 1
        builds.append(t1 - t0)
        computes.append(t2 - t1)
        print(f"dask_bench: {name} {scheduler} run {r + 1}/{repeat}: "
              f"build {t1 - t0:.4f}s compute {t2 - t1:.4f}s", file=sys.stderr)
        del expr, value
    _, expr, _ = _stored_graph(name, cache)
    tasks = len(expr.__dask_graph__())
    (optimized,) = dask.optimize(expr)
    emit_row(name, "dask", scheduler, tasks, min(builds), min(computes), repeat,
             tasks_optimized=len(optimized.__dask_graph__()), workers=workers(scheduler))
    return 0


# --------------------------------------------------------------------------
# Distributed workloads: a LocalCluster of 2 worker processes x 1 thread.
# The same work as bench/src/distributed.rs.
# --------------------------------------------------------------------------
ROUNDTRIPS = 200          # futures-roundtrip: sequential submit + result
MAP_TASKS = 10_000        # futures-map-10k: map + gather
CLUSTER_LEAVES = 100_000  # cluster-delayed-100k: inc leaves + fan-in-64 tree sum
ARG_STRIDE = 10_000_000   # repeat r uses arguments from r * ARG_STRIDE: fresh keys

DISTRIBUTED_WORKLOADS = ("futures-roundtrip", "futures-map-10k", "cluster-delayed-100k",
                         "cluster-array-sum-transpose")


def sum_inc_from(n: int, base: int) -> int:
    """sum(base + i + 1 for i in range(n))"""
    return n * base + n * (n + 1) // 2


def build_independent_from(n: int, base: int) -> tuple[object, int]:
    leaves = [delayed(inc)(base + i) for i in range(n)]
    root, calls = tree_sum(leaves)
    return root, n + calls


def _peak_rss_mb() -> float:
    """Peak RSS of the calling process, MB (ru_maxrss is KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _cpu_s() -> float:
    """CPU seconds (user + system) of the calling process."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _distributed_once(name: str, client, base: int) -> tuple[float, float, int, dict]:
    """One timed repeat: (build_s, compute_s, tasks, extra)."""
    extra: dict = {}
    if name == "futures-roundtrip":
        each = []
        t0 = time.perf_counter()
        for i in range(ROUNDTRIPS):
            t = time.perf_counter()
            got = client.submit(inc, base + i).result()
            each.append(time.perf_counter() - t)
            if got != base + i + 1:
                raise SystemExit(f"dask_bench: inc({base + i}) gave {got!r}")
        total = time.perf_counter() - t0
        each.sort()
        extra["roundtrip_median_ms"] = each[len(each) // 2] * 1e3
        extra["roundtrip_min_ms"] = each[0] * 1e3
        return 0.0, total, ROUNDTRIPS, extra
    if name == "futures-map-10k":
        t0 = time.perf_counter()
        fs = client.map(inc, range(base, base + MAP_TASKS))
        submitted = time.perf_counter() - t0
        xs = client.gather(fs)
        total = time.perf_counter() - t0
        del fs
        if len(xs) != MAP_TASKS or sum(xs) != sum_inc_from(MAP_TASKS, base):
            raise SystemExit(f"dask_bench: {name}: gather gave {len(xs)} values summing to {sum(xs)}")
        extra["submit_s"] = submitted
        return 0.0, total, MAP_TASKS, extra
    if name == "cluster-delayed-100k":
        t0 = time.perf_counter()
        root, tasks = build_independent_from(CLUSTER_LEAVES, base)
        t1 = time.perf_counter()
        fut = client.compute(root)
        t2 = time.perf_counter()
        got = fut.result()
        t3 = time.perf_counter()
        del fut
        if tasks != 101_589 or got != sum_inc_from(CLUSTER_LEAVES, base):
            raise SystemExit(f"dask_bench: {name}: {tasks} tasks gave {got!r}, expected 101589 "
                             f"tasks giving {sum_inc_from(CLUSTER_LEAVES, base)}")
        extra["submit_s"] = t2 - t1
        extra["wait_s"] = t3 - t2
        return t1 - t0, t3 - t1, tasks, extra
    if name == "cluster-array-sum-transpose":
        wl = ARRAY_WORKLOADS["array-sum-transpose"]
        t0 = time.perf_counter()
        expr = wl.expr(random_x(wl.n, wl.chunks))
        t1 = time.perf_counter()
        value = client.compute(expr).result()
        t2 = time.perf_counter()
        err = wl.check(wl.n, value)
        if err:
            raise SystemExit(f"dask_bench: {name}: wrong result: {err}")
        return t1 - t0, t2 - t1, len(expr.__dask_graph__()), extra
    raise SystemExit(f"dask_bench: unknown distributed workload {name!r}")


def run_distributed(name: str, repeat: int) -> int:
    from distributed import Client, LocalCluster

    t0 = time.perf_counter()
    # dashboard_address=None: no web server (and no bokeh needed).
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    t_cluster = time.perf_counter() - t0
    client = Client(cluster)
    t_client = time.perf_counter() - t0
    warm = client.submit(inc, ARG_STRIDE - 1).result()  # warm-up, not timed
    assert warm == ARG_STRIDE
    startup = time.perf_counter() - t0
    print(f"dask_bench: cluster up in {startup:.3f}s (LocalCluster {t_cluster:.3f}s, client "
          f"{t_client - t_cluster:.3f}s, first task {startup - t_client:.3f}s)", file=sys.stderr)

    def worker_cpu() -> dict:
        return client.run(_cpu_s)

    best = None
    for r in range(1, repeat + 1):
        gc.collect()
        cpu0, wcpu0 = _cpu_s(), worker_cpu()
        build_s, compute_s, tasks, extra = _distributed_once(name, client, r * ARG_STRIDE)
        cpu1, wcpu1 = _cpu_s(), worker_cpu()
        cpu = {"threads": {"client+scheduler": round(cpu1 - cpu0, 2)},
               "workers": [round(wcpu1[w] - wcpu0.get(w, 0.0), 2) for w in sorted(wcpu1)]}
        print(f"dask_bench: {name} distributed run {r}/{repeat}: build {build_s:.4f}s "
              f"compute {compute_s:.4f}s; cpu {cpu}", file=sys.stderr)
        if best is None or compute_s < best[1]:
            best = (build_s, compute_s, tasks, extra, cpu)
    build_s, compute_s, tasks, extra, cpu = best
    workers_rss = client.run(_peak_rss_mb)
    details = {"workers": 2, "threads_per_worker": 1, "startup_s": startup,
               "scheduler_rss_mb": _peak_rss_mb(),
               "workers_rss_mb": [workers_rss[w] for w in sorted(workers_rss)],
               "cpu_s": cpu, **extra}
    client.close()
    cluster.close()
    emit_row(name, "dask", "distributed", tasks, build_s, compute_s, repeat, workers=2,
             cluster=details)
    return 0


# --------------------------------------------------------------------------
# array-rechunk-large: a stored N x N f64 array (columns (N, 100)) rechunked to
# rows (100, N) on a LocalCluster whose workers together get the memory limit,
# with Dask's P2P rechunk; the same work as bench/src/rechunk.rs.
# --------------------------------------------------------------------------
RECHUNK_LARGE = "array-rechunk-large"
RECHUNK_BLOCK = 100


def _row_sums_block(b):
    """The row sums of one rechunked (100, N) block, as a (100, 1) block."""
    return b.sum(axis=1, keepdims=True)


def _rechunk_params() -> tuple[int, int]:
    """(n, limit in bytes) from RASK_BENCH_RECHUNK_N / RASK_BENCH_RECHUNK_LIMIT."""
    import os

    from dask.utils import parse_bytes

    import inputs

    n = inputs.rechunk_n()
    raw = os.environ.get("RASK_BENCH_RECHUNK_LIMIT", "").strip() or "2GiB"
    try:
        limit = parse_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise SystemExit(f"dask_bench: RASK_BENCH_RECHUNK_LIMIT={raw!r}: {exc}")
    return n, int(limit)


class _RssSampler:
    """Samples the RSS of this process's descendants every 100 ms and keeps
    each process's peak: the peaks of worker processes that were killed
    are kept too (client.run can only ask the living)."""

    def __init__(self) -> None:
        import threading

        import psutil

        self._me = psutil.Process()
        self.peaks: dict[int, float] = {}     # pid -> peak RSS, MB
        self.helper: dict[int, bool] = {}     # pid -> not a worker (resource tracker)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.1):
            try:
                kids = self._me.children(recursive=True)
            except psutil.Error:
                continue
            for k in kids:
                try:
                    rss = k.memory_info().rss / 1e6
                    if k.pid not in self.helper:
                        self.helper[k.pid] = "resource_tracker" in " ".join(k.cmdline())
                except psutil.Error:
                    continue
                if rss > self.peaks.get(k.pid, 0.0):
                    self.peaks[k.pid] = rss

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def workers(self) -> list[float]:
        """Peaks of the worker processes (a LocalCluster's nannies live in
        this process and start the workers as its children), in start order;
        multiprocessing's resource tracker is left out."""
        return [self.peaks[pid] for pid, h in self.helper.items() if not h and pid in self.peaks]


def run_rechunk_large(repeat: int) -> int:
    """One JSON line; a compute that fails (a killed worker, a failed P2P
    shuffle) or runs past RASK_BENCH_RECHUNK_TIMEOUT seconds (default 1500)
    is reported as ``"finished": false`` with the reason, not as an error.
    A worker that was killed and restarted reports the new process's peak
    RSS: the dead one's is lost."""
    import os
    import shutil
    from pathlib import Path

    import dask.array as da
    import numpy as np
    from distributed import Client, LocalCluster

    cache = os.environ.get("RASK_BENCH_CACHE")
    if not cache or not (Path(cache) / "reference.json").is_file():
        print(f"dask_bench: {RECHUNK_LARGE} reads the inputs bench/run generates "
              f"(bench/inputs.py); RASK_BENCH_CACHE={cache!r} has none", file=sys.stderr)
        return 1
    cache = Path(cache)
    n, limit = _rechunk_params()
    timeout = float(os.environ.get("RASK_BENCH_RECHUNK_TIMEOUT", "1500"))
    store = cache / f"rechunk{n}.zarr"
    want = np.load(cache / f"rechunk{n}_rowsums.npy")
    # P2P writes its shards here (and workers spill here): on the cache's disk.
    scratch = cache / "out" / "dask-rechunk"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    print(f"dask_bench: {RECHUNK_LARGE}: n {n} ({n * n * 8 / 1e9:.2f} GB), 2 workers x "
          f"{limit // 2 / 2**20:.0f} MiB, scratch {scratch}", file=sys.stderr)

    def graph():
        x = da.from_zarr(str(store))
        y = x.rechunk((RECHUNK_BLOCK, n), method="p2p")
        return y.map_blocks(_row_sums_block, chunks=(RECHUNK_BLOCK, 1), dtype=np.float64)

    sampler = _RssSampler()
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           memory_limit=limit // 2, local_directory=str(scratch),
                           dashboard_address=None)
    client = Client(cluster)
    builds: list[float] = []
    computes: list[float] = []
    reason = None
    tasks = 0
    try:  # warm-up, not timed; workers paused from the start never run it
        assert client.submit(inc, 1).result(timeout=120) == 2
    except Exception as exc:
        reason = (f"the cluster ran no task within 120 s of starting (workers paused or "
                  f"restarting under {limit // 2 / 2**20:.0f} MiB each?): {type(exc).__name__}")
        print(f"dask_bench: {RECHUNK_LARGE}: did not finish: {reason}", file=sys.stderr)
        builds, computes = [0.0], [0.0]
    startup = time.perf_counter() - t0

    for r in range(repeat if reason is None else 0):
        gc.collect()
        t1 = time.perf_counter()
        expr = graph()
        t2 = time.perf_counter()
        tasks = len(expr.__dask_graph__())
        fut = client.compute(expr)
        try:
            got = fut.result(timeout=timeout)
        except Exception as exc:  # KilledWorker, a failed P2P shuffle, a timeout
            t3 = time.perf_counter()
            reason = f"{type(exc).__name__}: {exc}".strip()
            if len(reason) > 300:
                reason = reason[:300] + "..."
            print(f"dask_bench: {RECHUNK_LARGE}: did not finish after {t3 - t2:.1f}s: {reason}",
                  file=sys.stderr)
            builds.append(t2 - t1)
            computes = [t3 - t2]
            fut.cancel()
            break
        t3 = time.perf_counter()
        del fut
        got = np.asarray(got)
        if got.shape != (n, 1):
            print(f"dask_bench: {RECHUNK_LARGE}: row sums have shape {got.shape}, expected "
                  f"({n}, 1)", file=sys.stderr)
            return 1
        bad = np.flatnonzero(~(np.abs((got[:, 0] - want) / want) <= 1e-9))
        if bad.size:
            i = int(bad[0])
            print(f"dask_bench: {RECHUNK_LARGE}: wrong result: row {i}: sum {got[i, 0]!r}, "
                  f"expected {want[i]!r} within 1e-9 relative", file=sys.stderr)
            return 1
        builds.append(t2 - t1)
        computes.append(t3 - t2)
        print(f"dask_bench: {RECHUNK_LARGE} distributed run {r + 1}/{repeat}: build "
              f"{t2 - t1:.4f}s compute {t3 - t2:.4f}s", file=sys.stderr)
        del expr, got

    sampler.stop()
    sched_rss = _peak_rss_mb()
    wrss = sampler.workers()
    # Two worker slots: a restarted worker replaces a dead one, so the two
    # largest peaks stand for what the cluster's workers held.
    top2 = sorted(wrss, reverse=True)[:2]
    details = {"workers": 2, "threads_per_worker": 1, "startup_s": startup,
               "memory_limit_per_worker_mb": limit // 2 / 1e6,
               "scheduler_rss_mb": sched_rss, "workers_rss_mb": wrss,
               "worker_processes": len(wrss),
               "rechunk_method": "p2p"}
    try:
        client.close(timeout=30)
        cluster.close(timeout=30)
    except Exception as exc:
        print(f"dask_bench: {RECHUNK_LARGE}: closing the cluster: {exc}", file=sys.stderr)
    shutil.rmtree(scratch, ignore_errors=True)
    emit_row(RECHUNK_LARGE, "dask", "distributed", tasks, min(builds), min(computes), repeat,
             workers=2, cluster=details, n=n, memory_limit_mb=limit / 1e6,
             finished=reason is None, reason=reason,
             # The sum of the processes' peaks (scheduler + client, the two
             # largest worker peaks; nannies apart): the most the cluster held,
             # had the peaks come at once.
             peak_rss_total_mb=sched_rss + sum(top2))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=sorted([*WORKLOADS, *ARRAY_WORKLOADS, *STORED_WORKLOADS,
                                                *DISTRIBUTED_WORKLOADS, *DF_WORKLOADS,
                                                *TPCH_WORKLOADS, RECHUNK_LARGE]))
    p.add_argument("--scheduler", choices=["threads", "sync", "distributed"], default="threads")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.workload == RECHUNK_LARGE:
        if args.scheduler != "distributed":
            p.error(f"{RECHUNK_LARGE} runs on a LocalCluster in Dask: --scheduler distributed")
        return run_rechunk_large(args.repeat)
    if (args.workload in DISTRIBUTED_WORKLOADS) != (args.scheduler == "distributed"):
        p.error("the distributed workloads (and only they) run with --scheduler distributed")
    if args.workload in DISTRIBUTED_WORKLOADS:
        return run_distributed(args.workload, args.repeat)
    if args.workload in ARRAY_WORKLOADS:
        return run_array(args.workload, args.scheduler, args.repeat)
    if args.workload in STORED_WORKLOADS:
        return run_stored(args.workload, args.scheduler, args.repeat)
    if args.workload in DF_WORKLOADS:
        return run_dask_df(args.workload, args.scheduler, args.repeat, workers(args.scheduler))
    if args.workload in TPCH_WORKLOADS:
        return run_dask_tpch(args.workload, args.scheduler, args.repeat, workers(args.scheduler))

    wl = WORKLOADS[args.workload]
    builds: list[float] = []
    computes: list[float] = []
    tasks = 0
    tasks_optimized = None
    for r in range(args.repeat):
        gc.collect()
        t0 = time.perf_counter()
        root, tasks = wl.build()
        t1 = time.perf_counter()
        (value,) = dask.compute(root, scheduler=args.scheduler)
        t2 = time.perf_counter()

        if tasks != wl.expected_tasks:
            print(f"dask_bench: {args.workload}: built {tasks} tasks, expected {wl.expected_tasks}",
                  file=sys.stderr)
            return 1
        if value != wl.expected_result:
            print(f"dask_bench: {args.workload}: wrong result {value!r}, expected {wl.expected_result}",
                  file=sys.stderr)
            return 1
        builds.append(t1 - t0)
        computes.append(t2 - t1)
        print(f"dask_bench: {args.workload} {args.scheduler} run {r + 1}/{args.repeat}: "
              f"build {t1 - t0:.4f}s compute {t2 - t1:.4f}s", file=sys.stderr)
        if r + 1 == args.repeat:
            # Outside the timed runs (computing leaves the graph as it was):
            # what dask.compute runs after optimization.
            t3 = time.perf_counter()
            (optimized,) = dask.optimize(root)
            tasks_optimized = len(optimized.__dask_graph__())
            print(f"dask_bench: {args.workload}: {tasks} tasks built, {tasks_optimized} after "
                  f"dask.optimize ({time.perf_counter() - t3:.2f}s)", file=sys.stderr)
            del optimized
        del root, value  # free the graph before rebuilding

    emit_row(args.workload, "dask", args.scheduler, tasks, min(builds), min(computes),
             args.repeat, tasks_optimized=tasks_optimized, workers=workers(args.scheduler))
    return 0


if __name__ == "__main__":
    sys.exit(main())
