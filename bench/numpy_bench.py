#!/usr/bin/env python3
"""Plain NumPy reference for the array workloads of the rask benchmarks.

    python bench/numpy_bench.py WORKLOAD [--repeat N]

The whole array in memory, one process, NumPy's own (mostly single-threaded)
kernels: ``x = np.random.default_rng(SEED).random((n, n))``, then the same
expression as rask and Dask compute (bench/array_workloads.py).  There is no
graph: ``build_s`` is 0 and ``tasks`` 0.  ``compute_s`` counts generating
``x`` too, because rask and Dask generate their blocks inside compute.
Prints exactly one JSON line on stdout, like dask_bench.py:

    {"workload": ..., "engine": "numpy", "scheduler": null, "tasks": 0,
     "build_s": 0.0, "compute_s": ..., "repeat": ...}

``compute_s`` is the minimum over ``--repeat`` runs.  A wrong result exits
with status 1.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import numpy as np

from array_workloads import ARRAY_WORKLOADS, SEED, emit_row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    # Workloads about chunks (array-rechunk) have no NumPy counterpart.
    p.add_argument("workload", choices=sorted(w for w, wl in ARRAY_WORKLOADS.items() if wl.numpy))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")

    wl = ARRAY_WORKLOADS[args.workload]
    computes: list[float] = []
    for r in range(args.repeat):
        gc.collect()
        t0 = time.perf_counter()
        x = np.random.default_rng(SEED).random((wl.n, wl.n))
        t1 = time.perf_counter()
        value = wl.expr(x)
        t2 = time.perf_counter()
        err = wl.check(wl.n, value)
        if err:
            print(f"numpy_bench: {args.workload}: wrong result: {err}", file=sys.stderr)
            return 1
        computes.append(t2 - t0)
        print(f"numpy_bench: {args.workload} run {r + 1}/{args.repeat}: "
              f"generate {t1 - t0:.4f}s expression {t2 - t1:.4f}s", file=sys.stderr)
        del x, value

    emit_row(args.workload, "numpy", None, 0, 0.0, min(computes), args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
