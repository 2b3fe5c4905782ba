#!/usr/bin/env python3
"""Polars side of the dataframe benchmarks (``df-*``, see df_workloads.py;
``tpch-*``, see tpch.py).

    python bench/polars_bench.py WORKLOAD [--repeat N]

Runs the workload with Polars' lazy API (on its own thread pool) ``--repeat``
times on the telemetry in ``$RASK_BENCH_DF_DIR`` (TPC-H: ``$RASK_BENCH_CACHE/tpch-sf1``), checks the answer against
``reference.json``, and prints the harness's one JSON line (``build_s`` 0:
Polars has no graph to build; ``tasks`` 0).  A wrong result exits with
status 1.
"""

from __future__ import annotations

import argparse
import sys

from df_workloads import DF_WORKLOADS, run_polars
from tpch import TPCH_WORKLOADS, run_polars as run_polars_tpch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workload", choices=sorted([*DF_WORKLOADS, *TPCH_WORKLOADS]))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.workload in TPCH_WORKLOADS:
        return run_polars_tpch(args.workload, args.repeat)
    return run_polars(args.workload, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
