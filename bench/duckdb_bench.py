#!/usr/bin/env python3
"""DuckDB side of the TPC-H benchmarks (``tpch-*``; see tpch.py).

    python bench/duckdb_bench.py WORKLOAD [--repeat N]

Runs the query's SQL on the Parquet files in ``$RASK_BENCH_CACHE/tpch-sf1``
``--repeat`` times (DuckDB's own threads), checks the answer against
``reference.json`` (DuckDB's answer when the data was made), and prints the
harness's one JSON line (``tasks`` 0).  A wrong result exits with status 1.
"""

from __future__ import annotations

import argparse
import sys

from tpch import TPCH_WORKLOADS, run_duckdb


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workload", choices=sorted(TPCH_WORKLOADS))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return run_duckdb(args.workload, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
