"""Stored inputs of the benchmark workloads that read data instead of drawing it.

The harness calls ``ensure(cache, names)`` before it measures anything: each
input is written once, deterministically (NumPy's default Generator with a
fixed seed), into the cache directory that both engines read (``.npy`` files
and Zarr v3 stores with zarr-python's default zstd codec), together with
``reference.json``: what each workload must give, computed here with NumPy,
scipy.ndimage and PyWavelets.  An input whose stamp file
(``<input>.done``) holds the current ``VERSION`` is kept: the inputs are
the same bytes on every run, so they are made only once per cache
directory.  Generation is never part of a measurement; the harness reports
its time apart.

    python bench/inputs.py DIR [INPUT ...]   # generate by hand

The dataframe workloads' telemetry (``telemetry-ROWS``, see
``df_workloads.py``) and the TPC-H data (``tpch-sf1``, see ``tpch.py``)
are made the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

# Bump when an input's definition changes: every input is then made again.
VERSION = 1

N_NPY = 20_000       # x20000.npy: 20,000^2 float64, 3.2 GB
N_MATMUL = 8_000     # x8000.npy, y8000.npy: 8,000^2 float64, 512 MB each
FRAMES = 64
SIDE_GAUSS = 2_048   # frames2048.zarr: 64 x 2048 x 2048 float32, 1 GiB
CHUNKS_GAUSS = (4, 1_024, 1_024)
SIDE_DWT = 1_024     # frames1024.zarr: 64 x 1024 x 1024 float32, 256 MiB
CHUNKS_DWT = (8, 1_024, 1_024)  # frames grouped as a camera writes them: time is chunked
GAUSS_SIGMA = 2.0
# array-rechunk-large: rechunk{N}.zarr, N x N float64 in column blocks (N, 100),
# seed 47; N from RASK_BENCH_RECHUNK_N (default 40,000: 12.8 GB).
RECHUNK_N_DEFAULT = 40_000
RECHUNK_BLOCK = 100


def rechunk_n() -> int:
    """The side of array-rechunk-large's input: $RASK_BENCH_RECHUNK_N or 40,000."""
    raw = os.environ.get("RASK_BENCH_RECHUNK_N", "").strip()
    n = int(raw) if raw else RECHUNK_N_DEFAULT
    if n <= 0 or n % RECHUNK_BLOCK:
        raise ValueError(f"RASK_BENCH_RECHUNK_N={raw!r}: the side must be a positive multiple "
                         f"of {RECHUNK_BLOCK}")
    return n

# Which inputs each workload reads.
NEEDS: dict[str, tuple[str, ...]] = {
    "array-npy-sum-transpose": ("x20000",),
    "array-matmul-general": ("matmul",),
    "array-gaussian": ("frames2048",),
    "array-zarr-roundtrip": ("frames2048",),
    "array-dwt": ("frames1024",),
    # The input's name carries its side: rechunk40000, rechunk20000, ...
    "array-rechunk-large": ("rechunk",),
}


def _update_reference(cache: Path, values: dict) -> None:
    path = cache / "reference.json"
    ref = json.loads(path.read_text()) if path.exists() else {}
    ref.update(values)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(ref, indent=1) + "\n")
    tmp.replace(path)


def _npy(path: Path, n: int, seed: int) -> "np.ndarray":
    """An n x n float64 uniform [0, 1) matrix written row block by row block;
    returns its column sums and row sums (float64) and its total."""
    import numpy as np

    rng = np.random.default_rng(seed)
    tmp = path.with_name(path.name + ".tmp")
    mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float64, shape=(n, n))
    col = np.zeros(n)
    row = np.empty(n)
    for i in range(0, n, 1_000):
        block = rng.random((min(1_000, n - i), n))
        mm[i:i + block.shape[0]] = block
        col += block.sum(axis=0)
        row[i:i + block.shape[0]] = block.sum(axis=1)
    mm.flush()
    del mm
    tmp.replace(path)
    return col, row


def _frames(path: Path, side: int, chunks: tuple[int, int, int], seed: int, visit=None) -> None:
    """FRAMES x side x side float32 uniform [0, 1) frames in a Zarr v3 store
    (zarr-python's default codec, zstd), written chunk row by chunk row;
    ``visit(t0, block)`` sees each group of frames."""
    import numpy as np
    import zarr

    rng = np.random.default_rng(seed)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    z = zarr.create_array(store=str(tmp), shape=(FRAMES, side, side), chunks=chunks,
                          dtype="float32", dimension_names=("t", "y", "x"))
    for t in range(0, FRAMES, chunks[0]):
        block = rng.random((chunks[0], side, side), dtype=np.float32)
        z[t:t + chunks[0]] = block
        if visit is not None:
            visit(t, block)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def _rechunk_input(cache: Path, n: int) -> None:
    """rechunk{n}.zarr: n x n float64 uniform [0, 1), seed 47, chunks (n, 100),
    written column block by column block (a 32 MB block at n = 40,000), and
    rechunk{n}_rowsums.npy: its n row sums (float64), what the workload's
    per-row-block sums must give."""
    import numpy as np
    import zarr

    path = cache / f"rechunk{n}.zarr"
    rng = np.random.default_rng(47)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    z = zarr.create_array(store=str(tmp), shape=(n, n), chunks=(n, RECHUNK_BLOCK),
                          dtype="float64")
    rows = np.zeros(n)
    for j in range(0, n, RECHUNK_BLOCK):
        block = rng.random((n, RECHUNK_BLOCK))
        z[:, j:j + RECHUNK_BLOCK] = block
        rows += block.sum(axis=1)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
    np.save(cache / f"rechunk{n}_rowsums.npy", rows)
    _update_reference(cache, {f"rechunk{n}_sum": float(rows.sum())})


def make(cache: Path, name: str) -> None:
    import numpy as np

    if name.startswith("rechunk") and name[len("rechunk"):].isdigit():
        _rechunk_input(cache, int(name[len("rechunk"):]))
    elif name == "tpch-sf1":
        import tpch

        tpch.make_tpch(cache / name, log=print)
    elif name.startswith("telemetry-"):
        import df_workloads

        df_workloads.make_telemetry(cache / name, int(name.removeprefix("telemetry-")))
    elif name == "x20000":
        col, _ = _npy(cache / "x20000.npy", N_NPY, 42)
        _update_reference(cache, {"x20000_sum": float(col.sum())})
    elif name == "matmul":
        xcol, _ = _npy(cache / "x8000.npy", N_MATMUL, 43)
        _, yrow = _npy(cache / "y8000.npy", N_MATMUL, 44)
        # (x @ y).sum() = sum_k (sum_i x_ik) (sum_j y_kj)
        _update_reference(cache, {"matmul_sum": float(xcol @ yrow)})
    elif name == "frames2048":
        from scipy import ndimage

        def visit(t0, block):
            for i in range(block.shape[0]):
                t = t0 + i
                if t in (0, FRAMES - 1):
                    ref = ndimage.gaussian_filter(block[i], GAUSS_SIGMA, mode="reflect")
                    which = "first" if t == 0 else "last"
                    np.save(cache / f"gaussian_{which}.npy", ref[None].astype(np.float32))

        _frames(cache / "frames2048.zarr", SIDE_GAUSS, CHUNKS_GAUSS, 45, visit)
    elif name == "frames1024":
        import pywt
        import zarr

        _frames(cache / "frames1024.zarr", SIDE_DWT, CHUNKS_DWT, 46)
        x = zarr.open_array(str(cache / "frames1024.zarr"), mode="r")[...]
        sums = []
        # Column slabs keep the float32 coefficients small.
        parts = [pywt.wavedec(x[:, i:i + 128], "db4", mode="symmetric", level=3, axis=0)
                 for i in range(0, SIDE_DWT, 128)]
        for k in range(4):
            sums.append(float(sum(np.sum(np.square(p[k]), dtype=np.float64) for p in parts)))
        _update_reference(cache, {"dwt_sumsq": sums})
    else:
        raise ValueError(f"unknown input {name!r}; known: x20000, matmul, frames2048, frames1024, "
                         f"rechunkN (N a multiple of {RECHUNK_BLOCK})")


def ensure(cache: Path, names: list[str], log=None) -> dict[str, float]:
    """Makes every input in ``names`` that is missing or out of date; returns
    the seconds each one that was made took."""
    cache.mkdir(parents=True, exist_ok=True)
    # rask-bench takes reference.json as the sign that the harness made this
    # cache; inputs without reference values of their own (frames2048) must
    # not leave a fresh cache without one.
    _update_reference(cache, {})
    made: dict[str, float] = {}
    for name in names:
        stamp = cache / f"{name}.done"
        if stamp.exists() and stamp.read_text().strip() == str(VERSION):
            continue
        stamp.unlink(missing_ok=True)
        if log:
            log(f"generating input {name} into {cache} ...")
        t0 = time.perf_counter()
        make(cache, name)
        made[name] = time.perf_counter() - t0
        stamp.write_text(f"{VERSION}\n")
        if log:
            log(f"generated {name} in {made[name]:.1f} s")
    return made


def inputs_of(workloads: list[str]) -> list[str]:
    import df_workloads
    import tpch

    out: list[str] = []
    for w in workloads:
        # The dataframe workloads read the telemetry of the size asked for.
        needs = ((df_workloads.input_name(),) if w in df_workloads.DF_WORKLOADS
                 else (tpch.INPUT,) if w in tpch.TPCH_WORKLOADS else NEEDS.get(w, ()))
        for name in needs:
            if name == "rechunk":
                name = f"rechunk{rechunk_n()}"
            if name not in out:
                out.append(name)
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    todo = sys.argv[2:] or ["x20000", "matmul", "frames2048", "frames1024"]
    print(ensure(Path(sys.argv[1]), todo, log=print))
