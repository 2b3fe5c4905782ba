#!/usr/bin/env python3
"""The solar pipeline of examples/solar.rs in dask.array (bench workload ``solar``).

    python bench/solar_dask.py --input SUN.zarr --out DIR [--bench] [--repeat N]

Reads the synthetic sun that ``solar --write-sun`` wrote (Zarr, zstd), then,
as examples/solar.rs does:

1. a gaussian filter per image (sigma 0 in time, 2 in y and x, scipy's
   ``reflect``) through ``map_overlap`` with an 8-pixel halo in y and x;
2. rechunk so blocks span time: Dask has no multi-level wavelet transform
   along a chunked axis, so time is made whole, ``(T, size/8, size/2)``;
3. DWT features in time: per block ``pywt.wavedec(..., 'db4', level=3,
   axis=0, mode='symmetric')`` and, per pixel, the sum of squares of each
   coefficient array, through ``map_blocks`` (4 bands);
4. per-pixel mean, standard deviation (ddof 0) and maximum over time, and
   the light curve (the sum of every smoothed frame, in float64);
5. all of that in one ``dask.compute``; then ``pywt.wavedec2`` of the
   time-mean image (in memory, as rask computes it inside its graph) and
   the energy of its 10 sub-bands;
6. each product written to its own Zarr store under ``--out`` with units
   as attributes.

It checks the light curve against the raw frames' sums (the reflect-mode
gaussian keeps each image's sum), as the Rust example does.  With
``--bench`` it prints the one JSON line of bench/harness.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pywt
import zarr
from scipy import ndimage

SIGMA = 2.0
DEPTH = 8  # int(4 * sigma + 0.5)
WAVELET, LEVELS = "db4", 3
UNITS = "disk-centre intensity"
# 3 levels of db4 on 32 frames is one more than pywt.dwt_max_level; the
# transform is still defined (and the same in rask), PyWavelets just warns.
warnings.filterwarnings("ignore", message="Level value of", category=UserWarning)


def _gauss(b):
    return ndimage.gaussian_filter(b, sigma=(0.0, SIGMA, SIGMA), mode="reflect")


def _time_energy(b):
    coeffs = pywt.wavedec(b, WAVELET, mode="symmetric", level=LEVELS, axis=0)
    return np.stack([np.sum(np.square(c), axis=0) for c in coeffs]).astype(np.float32)


def build(sun: str):
    raw = da.from_zarr(sun)
    t, n = raw.shape[0], raw.shape[1]
    smooth = raw.map_overlap(_gauss, depth={0: 0, 1: DEPTH, 2: DEPTH}, boundary="none",
                             dtype=np.float32)
    series = smooth.rechunk((t, max(n // 8, 1), max(n // 2, 1)))
    time_energy = series.map_blocks(_time_energy, chunks=(4,) + series.chunks[1:],
                                    dtype=np.float32)
    products = {
        "mean": series.mean(axis=0, dtype=np.float32),
        "std": series.std(axis=0, dtype=np.float32),
        "max": series.max(axis=0),
        "time_energy": time_energy,
        "light_curve": smooth.sum(axis=(1, 2), dtype=np.float64),
    }
    return raw, products


def space_energy(mean: np.ndarray) -> np.ndarray:
    c = pywt.wavedec2(mean, WAVELET, mode="symmetric", level=LEVELS)
    bands = [c[0]] + [b for level in c[1:] for b in level]
    return np.array([np.sum(np.square(b)) for b in bands], dtype=np.float32)


def write(res: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, value in res.items():
        z = zarr.create_array(store=str(out / f"{name}.zarr"), shape=value.shape,
                              dtype=value.dtype, chunks=value.shape, overwrite=True)
        z[...] = value
        z.attrs["units"] = UNITS if name in ("mean", "std", "max", "light_curve") else f"({UNITS})^2"


def run(sun: str, out: Path):
    t0 = time.perf_counter()
    raw, products = build(sun)
    t1 = time.perf_counter()
    (res,) = dask.compute(products)
    res["space_energy"] = space_energy(res["mean"])
    write(res, out)
    t2 = time.perf_counter()
    tasks = sum(len(a.__dask_graph__()) for a in products.values())
    return raw, res, t1 - t0, t2 - t1, tasks


def check(raw, res) -> str | None:
    sums = raw.astype(np.float64).sum(axis=(1, 2)).compute()
    rel = np.abs(sums - res["light_curve"]) / np.maximum(np.abs(sums), 1.0)
    if not np.all(rel <= 1e-4):
        t = int(np.argmax(rel))
        return f"light curve frame {t}: {res['light_curve'][t]} against the raw frame's sum {sums[t]}"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", required=True, help="the synthetic sun (Zarr), from `solar --write-sun`")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--bench", action="store_true", help="print bench/harness.py's JSON line")
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args(argv)
    builds, computes, tasks = [], [], 0
    for r in range(max(args.repeat, 1)):
        raw, res, b, c, tasks = run(args.input, args.out)
        if r == 0:
            err = check(raw, res)
            if err:
                print(f"solar_dask: wrong result: {err}", file=sys.stderr)
                return 1
        builds.append(b)
        computes.append(c)
        print(f"solar_dask: run {r + 1}/{args.repeat}: build {b:.4f}s compute {c:.4f}s",
              file=sys.stderr)
    if args.bench:
        from dask.system import CPU_COUNT
        print(json.dumps({"workload": "solar", "engine": "dask", "scheduler": "threads",
                          "tasks": tasks, "build_s": min(builds), "compute_s": min(computes),
                          "repeat": args.repeat, "workers": CPU_COUNT}), flush=True)
    else:
        lc = res["light_curve"]
        print(f"light curve: peak {lc.max():.1f} at frame {int(lc.argmax())}; computed in "
              f"{min(computes):.2f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
