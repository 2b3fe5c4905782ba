"""Array workloads shared by bench/dask_bench.py and bench/numpy_bench.py.

Every workload draws ``x``, a random uniform [0, 1) float64 matrix of side
``n`` (chunks ``CHUNK`` x ``CHUNK``, or the workload's ``chunks``, where the
engine has chunks), and computes one expression of it.  The expressions are written once, as
functions of ``x``, and work unchanged on a NumPy ndarray and on a
dask.array.  The definitions must match the Rust side
(``bench/src/arrays.rs``); they are documented in bench/README.md.

The engines draw different random numbers (rask's streams are not NumPy's),
so ``check`` compares a result with what uniform [0, 1) numbers must give,
not with another engine's value.
"""

from __future__ import annotations

import json
import math
from typing import Callable, NamedTuple

SEED = 42
CHUNK = 1_000
N_STREAM = 20_000  # 20,000^2 float64 = 3.2 GB
N_MATMUL = 8_000   # 8,000^2 float64 = 512 MB
N_RECHUNK = 8_000  # 8,000^2 float64 = 512 MB
# array-rechunk goes from columns to rows.
RECHUNK_FROM = (N_RECHUNK, 50)
RECHUNK_TO = (50, N_RECHUNK)


def _near(what: str, got: float, want: float, rel: float) -> str | None:
    if not abs((got - want) / want) <= rel:
        return f"{what} = {got!r}, expected {want!r} within {rel:g} relative"
    return None


def _scalar(value) -> float:
    return float(value)  # a 0-d array or a NumPy scalar


def _check_col_means(n: int, value) -> str | None:
    """n column means, each within ~10 standard errors of 0.5, averaging 0.5."""
    import numpy as np

    v = np.asarray(value)
    if v.shape != (n,):
        return f"x.mean(axis=0) has shape {v.shape}, expected ({n},)"
    tol = 10 * math.sqrt(1 / 12) / math.sqrt(n)
    bad = np.flatnonzero(~(np.abs(v - 0.5) <= tol))
    if bad.size:
        i = int(bad[0])
        return f"x.mean(axis=0)[{i}] = {v[i]!r}, expected 0.5 within {tol:.4f}"
    return _near("mean of x.mean(axis=0)", float(v.mean()), 0.5, 1e-3)


def _check_matmul(n: int, value) -> str | None:
    # (x @ x.T).sum() = sum_k (sum_i x_ik)^2 and E[(sum_i x_ik)^2] = n^2/4 + n/12.
    return _near("(x @ x.T).sum()", _scalar(value), n * (n * n / 4 + n / 12), 1e-2)


class ArrayWorkload(NamedTuple):
    n: int
    expr: Callable  # x -> lazy (dask) or computed (numpy) result
    check: Callable[[int, object], "str | None"]  # (n, value) -> error or None
    chunks: tuple[int, int] = (CHUNK, CHUNK)  # chunks of x, where the engine has chunks
    numpy: bool = True  # whether the plain NumPy reference can run it


ARRAY_WORKLOADS: dict[str, ArrayWorkload] = {
    # Generating x is all the work: the generation floor.
    "array-sum": ArrayWorkload(
        N_STREAM, lambda x: x.sum(),
        lambda n, v: _near("x.sum()", _scalar(v), n * n * 0.5, 1e-3)),
    "array-sum-transpose": ArrayWorkload(
        N_STREAM, lambda x: (x + x.T).sum(),
        lambda n, v: _near("(x + x.T).sum()", _scalar(v), float(n * n), 1e-3)),
    "array-mean-axis0": ArrayWorkload(N_STREAM, lambda x: x.mean(axis=0), _check_col_means),
    "array-std": ArrayWorkload(
        N_STREAM, lambda x: x.std(),
        lambda n, v: _near("x.std()", _scalar(v), math.sqrt(1 / 12), 1e-3)),
    "array-matmul": ArrayWorkload(N_MATMUL, lambda x: (x @ x.T).sum(), _check_matmul),
    # Columns to rows, then a sum so the result is small: the rechunk is the
    # work (Dask's "rechunk across time").  Chunks mean nothing to NumPy.
    "array-rechunk": ArrayWorkload(
        N_RECHUNK, lambda x: x.rechunk(RECHUNK_TO).sum(),
        lambda n, v: _near("x.rechunk((50, n)).sum()", _scalar(v), n * n * 0.5, 1e-3),
        chunks=RECHUNK_FROM, numpy=False),
}


def emit_row(workload: str, engine: str, scheduler: str | None, tasks: int,
             build_s: float, compute_s: float, repeat: int, **extra: object) -> None:
    """Prints the one JSON line the harness reads from every engine's script."""
    row = {"workload": workload, "engine": engine, "scheduler": scheduler, "tasks": tasks,
           **extra, "build_s": build_s, "compute_s": compute_s, "repeat": repeat}
    print(json.dumps(row), flush=True)


# --------------------------------------------------------------------------
# Workloads on stored input (bench/inputs.py writes it once into the cache
# directory $RASK_BENCH_CACHE; both engines read the same bytes).  The Dask
# side is in dask_bench.py (run_stored), the rask side in
# bench/src/stored.rs; checks compare with reference.json.
# --------------------------------------------------------------------------
STORED_WORKLOADS: dict[str, str] = {
    "array-npy-sum-transpose": "(x + x.T).sum(), x 20,000^2 f64 read from x20000.npy in (1,000, 1,000) "
                               "blocks (Dask: np.load(mmap_mode='r') + da.from_array)",
    "array-matmul-general": "(x @ y).sum(), x and y 8,000^2 f64 from .npy in (1,000, 1,000) blocks; "
                            "OPENBLAS_NUM_THREADS=1 in both engines",
    "array-gaussian": "gaussian sigma (0, 2, 2) mode reflect per image of 64 x 2048 x 2048 f32 from "
                      "Zarr (chunks (4, 1024, 1024)), written to a new Zarr store (zstd)",
    "array-dwt": "3-level db4 along time (symmetric) of 64 x 1024 x 1024 f32 from Zarr (chunks "
                 "(8, 1024, 1024)); the sum of squares of each coefficient array",
    "array-zarr-roundtrip": "read the 64 x 2048 x 2048 f32 Zarr store, write a copy with zstd",
}
# Gaussian: radius int(4 * sigma + 0.5) = 8 pixels of halo in y and x.
GAUSS_SIGMA = (0.0, 2.0, 2.0)
GAUSS_DEPTH = 8
# array-dwt in Dask: rechunk so time is whole, then PyWavelets per block.
DWT_RECHUNK = (64, 128, 1024)
