"""TPC-H workloads (``tpch-q1``, ``-q3``, ``-q5``, ``-q6``, ``-q10``, ``-q18``) at scale factor 1:
data, reference answers, and the Dask, Polars and DuckDB sides.

The data is made by ``tpchgen-cli`` (the pinned PyPI wheel of the Rust
generator, in ``bench/.venv/bin``) as Parquet, then normalised once with
DuckDB into ``$RASK_BENCH_CACHE/tpch-sf1/<table>/part-NNN.parquet``: decimals
become doubles (rask's Polars is built without decimals; every engine reads
the same doubles), dates stay dates, and big tables are split into files of
at most 1,000,000 rows, so the partitioned engines see the same partitions.
``reference.json`` holds DuckDB's answer to every query on those files (dates
as days since 1970-01-01); every engine's answer is compared with it (floats
within 1e-6 relative).

The queries are TPC-H's, with its default substitution parameters:

* Q1 — pricing summary: ``lineitem`` up to 1998-09-02 grouped by return flag
  and line status: sums, means and the count.
* Q3 — shipping priority: ``BUILDING`` customers' orders before 1995-03-15
  with lines shipped after it; revenue per order, top 10.
* Q5 — local supplier volume: revenue of 1994 orders per ASIA nation where
  customer and supplier are of the same nation (six tables).
* Q10 — returned items: revenue lost per customer in 1993-Q4, top 20.
* Q18 — large volume customers: orders of more than 300 units (a group-by
  over all 1.5 million order keys), top 100 by price.
* Q6 — forecasting revenue change: ``lineitem`` shipped in 1994 with a
  discount of 0.05–0.07 and quantity under 24: the sum of price × discount.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

TPCH_WORKLOADS: dict[str, str] = {
    "tpch-q1": "TPC-H Q1 at SF1 (lineitem: filter, group by 2 keys, 8 aggregates)",
    "tpch-q3": "TPC-H Q3 at SF1 (customer x orders x lineitem, revenue per order, top 10)",
    "tpch-q5": "TPC-H Q5 at SF1 (6 tables joined, revenue per ASIA nation)",
    "tpch-q6": "TPC-H Q6 at SF1 (lineitem: filter, one sum)",
    "tpch-q10": "TPC-H Q10 at SF1 (returned items: revenue per customer, top 20)",
    "tpch-q18": "TPC-H Q18 at SF1 (large orders: group by 1.5M order keys, top 100)",
}
TABLES = ["lineitem", "orders", "customer", "nation", "region", "supplier", "part", "partsupp"]
INPUT = "tpch-sf1"
ROWS_PER_FILE = 1_000_000

SQL = {
    "tpch-q1": """
        select l_returnflag, l_linestatus, sum(l_quantity) as sum_qty,
               sum(l_extendedprice) as sum_base_price,
               sum(l_extendedprice * (1 - l_discount)) as sum_disc_price,
               sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) as sum_charge,
               avg(l_quantity) as avg_qty, avg(l_extendedprice) as avg_price,
               avg(l_discount) as avg_disc, count(*) as count_order
        from lineitem where l_shipdate <= date '1998-09-02'
        group by l_returnflag, l_linestatus order by l_returnflag, l_linestatus""",
    "tpch-q3": """
        select l_orderkey, sum(l_extendedprice * (1 - l_discount)) as revenue,
               o_orderdate, o_shippriority
        from customer, orders, lineitem
        where c_mktsegment = 'BUILDING' and c_custkey = o_custkey and l_orderkey = o_orderkey
          and o_orderdate < date '1995-03-15' and l_shipdate > date '1995-03-15'
        group by l_orderkey, o_orderdate, o_shippriority
        order by revenue desc, o_orderdate limit 10""",
    "tpch-q5": """
        select n_name, sum(l_extendedprice * (1 - l_discount)) as revenue
        from customer, orders, lineitem, supplier, nation, region
        where c_custkey = o_custkey and l_orderkey = o_orderkey and l_suppkey = s_suppkey
          and c_nationkey = s_nationkey and s_nationkey = n_nationkey
          and n_regionkey = r_regionkey and r_name = 'ASIA'
          and o_orderdate >= date '1994-01-01' and o_orderdate < date '1995-01-01'
        group by n_name order by revenue desc""",
    "tpch-q10": """
        select c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) as revenue,
               c_acctbal, n_name, c_address, c_phone, c_comment
        from customer, orders, lineitem, nation
        where c_custkey = o_custkey and l_orderkey = o_orderkey
          and o_orderdate >= date '1993-10-01' and o_orderdate < date '1994-01-01'
          and l_returnflag = 'R' and c_nationkey = n_nationkey
        group by c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
        order by revenue desc limit 20""",
    "tpch-q18": """
        select c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity) as sum_qty
        from customer, orders, lineitem
        where o_orderkey in (select l_orderkey from lineitem group by l_orderkey
                             having sum(l_quantity) > 300)
          and c_custkey = o_custkey and o_orderkey = l_orderkey
        group by c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice
        order by o_totalprice desc, o_orderdate limit 100""",
    "tpch-q6": """
        select sum(l_extendedprice * l_discount) as revenue from lineitem
        where l_shipdate >= date '1994-01-01' and l_shipdate < date '1995-01-01'
          and l_discount between 0.05 and 0.07 and l_quantity < 24""",
}


def _days(d: _dt.date) -> int:
    return (d - _dt.date(1970, 1, 1)).days


def _plain(v):
    """A value of an answer row in JSON form (dates as days since 1970)."""
    if isinstance(v, _dt.datetime):
        v = v.date()
    if isinstance(v, _dt.date):
        return _days(v)
    if hasattr(v, "item"):  # NumPy scalars
        v = v.item()
    if isinstance(v, _dt.date):
        return _days(v)
    return float(v) if isinstance(v, float) else v


def _tables(path: Path) -> dict[str, str]:
    return {t: str(path / t / "*.parquet") for t in TABLES}


def make_tpch(path: Path, log=None) -> None:
    """Generates SF1 with tpchgen-cli, normalises it, writes the reference."""
    import duckdb

    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    raw = tmp / "raw"
    raw.mkdir(parents=True)
    gen = Path(sys.executable).parent / "tpchgen-cli"
    if not gen.exists():
        gen = Path(shutil.which("tpchgen-cli") or "tpchgen-cli")
    subprocess.run([str(gen), "parquet", "--scale-factor", "1", "--output-dir", str(raw)],
                   check=True)
    con = duckdb.connect()
    for t in TABLES:
        src = sorted(raw.glob(f"{t}.parquet")) or sorted((raw / t).glob("*.parquet"))
        if not src:
            raise RuntimeError(f"tpchgen-cli wrote no {t} table into {raw}")
        files = ", ".join(f"'{s}'" for s in src)
        rel = con.sql(f"select * from read_parquet([{files}])")
        cols = [f"cast({c} as double) as {c}" if str(ty).startswith("DECIMAL") else c
                for c, ty in zip(rel.columns, rel.types)]
        n = con.sql(f"select count(*) from read_parquet([{files}])").fetchall()[0][0]
        out = tmp / t
        out.mkdir()
        parts = max(1, math.ceil(n / ROWS_PER_FILE))
        for i in range(parts):
            con.sql(f"copy (select {', '.join(cols)} from read_parquet([{files}]) "
                    f"limit {ROWS_PER_FILE} offset {i * ROWS_PER_FILE}) "
                    f"to '{out / f'part-{i:03d}.parquet'}' (format parquet)")
        if log:
            log(f"tpch: {t}: {n} rows in {parts} files")
    shutil.rmtree(raw)
    ref = {}
    for name, sql in SQL.items():
        ref[name] = [[_plain(v) for v in row] for row in _duckdb_query(con, tmp, sql).fetchall()]
    (tmp / "reference.json").write_text(json.dumps(ref) + "\n")
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def _duckdb_query(con, path: Path, sql: str):
    for t, glob in _tables(path).items():
        con.sql(f"create or replace view {t} as select * from read_parquet('{glob}')")
    return con.sql(sql)


def check(name: str, got: list, ref: dict) -> str | None:
    want = ref[name]
    if len(got) != len(want):
        return f"{len(got)} rows, expected {len(want)}: {got[:3]} ..."
    for i, (g, w) in enumerate(zip(got, want)):
        if len(g) != len(w):
            return f"row {i}: {g}, expected {w}"
        for a, b in zip(g, w):
            if isinstance(b, float) or isinstance(a, float):
                if not math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6):
                    return f"row {i}: {g}, expected {w}"
            elif a != b:
                return f"row {i}: {g}, expected {w}"
    return None


def _input() -> tuple[Path, dict]:
    env = os.environ.get("RASK_BENCH_CACHE")
    if not env:
        sys.exit("RASK_BENCH_CACHE is not set: the TPC-H workloads read the data bench/run "
                 "generates (bench/inputs.py); run them through bench/run")
    path = Path(env) / INPUT
    return path, json.loads((path / "reference.json").read_text())


def _rows(pdf) -> list:
    """A pandas frame's rows in answer form."""
    return [[_plain(v) for v in row] for row in pdf.itertuples(index=False)]


def _run(name: str, engine: str, scheduler, repeat: int, query, answer, workers: int) -> int:
    from array_workloads import emit_row

    path, ref = _input()
    builds, computes = [], []
    tasks = 0
    for r in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        plan, compute, tasks = query(path)
        t1 = time.perf_counter()
        value = compute(plan)
        t2 = time.perf_counter()
        err = check(name, answer(value), ref)
        if err:
            print(f"{engine}: {name}: wrong result: {err}", file=sys.stderr)
            return 1
        builds.append(t1 - t0)
        computes.append(t2 - t1)
        print(f"{engine}: {name} run {r + 1}/{repeat}: build {t1 - t0:.4f}s compute {t2 - t1:.4f}s",
              file=sys.stderr)
        del plan, value
    emit_row(name, engine, scheduler, tasks, min(builds), min(computes), repeat, workers=workers)
    return 0


# --------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------
def run_duckdb(name: str, repeat: int) -> int:
    import duckdb

    con = duckdb.connect()
    threads = con.sql("select current_setting('threads')").fetchall()[0][0]

    def query(path):
        return SQL[name], lambda sql: _duckdb_query(con, path, sql).fetchall(), 0

    return _run(name, "duckdb", None, repeat, query,
                lambda rows: [[_plain(v) for v in row] for row in rows], int(threads))


# --------------------------------------------------------------------------
# Polars (lazy)
# --------------------------------------------------------------------------
def _polars_query(name: str, path: Path):
    import polars as pl

    t = {k: pl.scan_parquet(v) for k, v in _tables(path).items()}
    li = t["lineitem"]
    c = pl.col
    if name == "tpch-q1":
        disc = c("l_extendedprice") * (1 - c("l_discount"))
        return (li.filter(c("l_shipdate") <= _dt.date(1998, 9, 2))
                .group_by("l_returnflag", "l_linestatus")
                .agg(c("l_quantity").sum().alias("sum_qty"),
                     c("l_extendedprice").sum().alias("sum_base_price"),
                     disc.sum().alias("sum_disc_price"),
                     (disc * (1 + c("l_tax"))).sum().alias("sum_charge"),
                     c("l_quantity").mean().alias("avg_qty"),
                     c("l_extendedprice").mean().alias("avg_price"),
                     c("l_discount").mean().alias("avg_disc"),
                     pl.len().alias("count_order"))
                .sort("l_returnflag", "l_linestatus"))
    if name == "tpch-q3":
        day = _dt.date(1995, 3, 15)
        return (t["customer"].filter(c("c_mktsegment") == "BUILDING")
                .join(t["orders"].filter(c("o_orderdate") < day), left_on="c_custkey",
                      right_on="o_custkey")
                .join(li.filter(c("l_shipdate") > day), left_on="o_orderkey",
                      right_on="l_orderkey")
                .group_by(c("o_orderkey").alias("l_orderkey"), "o_orderdate", "o_shippriority")
                .agg((c("l_extendedprice") * (1 - c("l_discount"))).sum().alias("revenue"))
                .select("l_orderkey", "revenue", "o_orderdate", "o_shippriority")
                .sort(["revenue", "o_orderdate"], descending=[True, False])
                .head(10))
    rev = (c("l_extendedprice") * (1 - c("l_discount"))).alias("revenue")
    if name == "tpch-q5":
        nations = (t["region"].filter(c("r_name") == "ASIA")
                   .join(t["nation"], left_on="r_regionkey", right_on="n_regionkey"))
        sup = t["supplier"].join(nations, left_on="s_nationkey", right_on="n_nationkey")
        orders = (t["orders"].filter((c("o_orderdate") >= _dt.date(1994, 1, 1))
                                     & (c("o_orderdate") < _dt.date(1995, 1, 1)))
                  .join(t["customer"], left_on="o_custkey", right_on="c_custkey"))
        return (li.join(sup, left_on="l_suppkey", right_on="s_suppkey")
                .join(orders, left_on="l_orderkey", right_on="o_orderkey")
                .filter(c("c_nationkey") == c("s_nationkey"))
                .group_by("n_name").agg(rev.sum())
                .sort("revenue", descending=True))
    if name == "tpch-q10":
        orders = t["orders"].filter((c("o_orderdate") >= _dt.date(1993, 10, 1))
                                    & (c("o_orderdate") < _dt.date(1994, 1, 1)))
        per_cust = (li.filter(c("l_returnflag") == "R")
                    .join(orders, left_on="l_orderkey", right_on="o_orderkey")
                    .group_by("o_custkey").agg(rev.sum()))
        return (per_cust.join(t["customer"], left_on="o_custkey", right_on="c_custkey")
                .join(t["nation"], left_on="c_nationkey", right_on="n_nationkey")
                .select(c("o_custkey").alias("c_custkey"), "c_name", "revenue", "c_acctbal",
                        "n_name", "c_address", "c_phone", "c_comment")
                .sort("revenue", descending=True).head(20))
    if name == "tpch-q18":
        big = (li.group_by("l_orderkey").agg(c("l_quantity").sum().alias("sum_qty"))
               .filter(c("sum_qty") > 300))
        return (t["orders"].join(big, left_on="o_orderkey", right_on="l_orderkey")
                .join(t["customer"], left_on="o_custkey", right_on="c_custkey")
                .select("c_name", c("o_custkey").alias("c_custkey"), "o_orderkey", "o_orderdate",
                        "o_totalprice", "sum_qty")
                .sort(["o_totalprice", "o_orderdate"], descending=[True, False]).head(100))
    return (li.filter((c("l_shipdate") >= _dt.date(1994, 1, 1))
                      & (c("l_shipdate") < _dt.date(1995, 1, 1))
                      & c("l_discount").is_between(0.05, 0.07) & (c("l_quantity") < 24))
            .select((c("l_extendedprice") * c("l_discount")).sum().alias("revenue")))


def run_polars(name: str, repeat: int) -> int:
    import polars as pl

    return _run(name, "polars", None, repeat,
                lambda path: (_polars_query(name, path), lambda q: q.collect(), 0),
                lambda df: [[_plain(v) for v in row] for row in df.iter_rows()],
                pl.thread_pool_size())


# --------------------------------------------------------------------------
# Dask (dask.dataframe)
# --------------------------------------------------------------------------
def run_dask(name: str, scheduler: str, repeat: int, workers: int) -> int:
    import dask
    import dask.dataframe as dd
    import pandas as pd

    def query(path):
        t = {k: dd.read_parquet(str(path / k)) for k in TABLES}
        li = t["lineitem"]
        date = _dt.date.fromisoformat
        if name == "tpch-q1":
            li = li[li.l_shipdate <= _dt.date.fromisoformat("1998-09-02")]
            li = li.assign(disc_price=li.l_extendedprice * (1 - li.l_discount))
            li = li.assign(charge=li.disc_price * (1 + li.l_tax))
            x = li.groupby(["l_returnflag", "l_linestatus"]).agg(
                sum_qty=("l_quantity", "sum"), sum_base_price=("l_extendedprice", "sum"),
                sum_disc_price=("disc_price", "sum"), sum_charge=("charge", "sum"),
                avg_qty=("l_quantity", "mean"), avg_price=("l_extendedprice", "mean"),
                avg_disc=("l_discount", "mean"), count_order=("l_quantity", "size"))
        elif name == "tpch-q3":
            day = _dt.date.fromisoformat("1995-03-15")
            cu = t["customer"][t["customer"].c_mktsegment == "BUILDING"]
            o = t["orders"][t["orders"].o_orderdate < day]
            li = li[li.l_shipdate > day]
            j = cu.merge(o, left_on="c_custkey", right_on="o_custkey").merge(
                li, left_on="o_orderkey", right_on="l_orderkey")
            j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
            x = j.groupby(["l_orderkey", "o_orderdate", "o_shippriority"]).revenue.sum()
        elif name == "tpch-q5":
            r, n = t["region"], t["nation"]
            nations = r[r.r_name == "ASIA"].merge(n, left_on="r_regionkey", right_on="n_regionkey")
            sup = t["supplier"].merge(nations, left_on="s_nationkey", right_on="n_nationkey")
            o = t["orders"]
            o = o[(o.o_orderdate >= date("1994-01-01")) & (o.o_orderdate < date("1995-01-01"))]
            o = o.merge(t["customer"], left_on="o_custkey", right_on="c_custkey")
            j = li.merge(sup, left_on="l_suppkey", right_on="s_suppkey").merge(
                o, left_on="l_orderkey", right_on="o_orderkey")
            j = j[j.c_nationkey == j.s_nationkey]
            j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
            x = j.groupby("n_name").revenue.sum()
        elif name == "tpch-q10":
            o = t["orders"]
            o = o[(o.o_orderdate >= date("1993-10-01")) & (o.o_orderdate < date("1994-01-01"))]
            j = li[li.l_returnflag == "R"].merge(o, left_on="l_orderkey", right_on="o_orderkey")
            j = j.assign(revenue=j.l_extendedprice * (1 - j.l_discount))
            per = j.groupby("o_custkey").revenue.sum().reset_index()
            x = (per.merge(t["customer"], left_on="o_custkey", right_on="c_custkey")
                 .merge(t["nation"], left_on="c_nationkey", right_on="n_nationkey"))
        elif name == "tpch-q18":
            q = li.groupby("l_orderkey").l_quantity.sum().rename("sum_qty").reset_index()
            q = q[q.sum_qty > 300]
            x = (t["orders"].merge(q, left_on="o_orderkey", right_on="l_orderkey")
                 .merge(t["customer"], left_on="o_custkey", right_on="c_custkey"))
        else:
            m = ((li.l_shipdate >= _dt.date.fromisoformat("1994-01-01"))
                 & (li.l_shipdate < _dt.date.fromisoformat("1995-01-01"))
                 & (li.l_discount >= 0.05) & (li.l_discount <= 0.07) & (li.l_quantity < 24))
            x = (li[m].l_extendedprice * li[m].l_discount).sum()
        return x, lambda x: dask.compute(x, scheduler=scheduler)[0], len(x.__dask_graph__())

    def answer(v):
        if name == "tpch-q1":
            return _rows(v.reset_index().sort_values(["l_returnflag", "l_linestatus"]))
        if name == "tpch-q3":
            v = v.reset_index().sort_values(["revenue", "o_orderdate"], ascending=[False, True])
            return _rows(v[["l_orderkey", "revenue", "o_orderdate", "o_shippriority"]].head(10))
        if name == "tpch-q5":
            return _rows(v.reset_index().sort_values("revenue", ascending=False))
        if name == "tpch-q10":
            v = v.sort_values("revenue", ascending=False).head(20)
            return _rows(v[["c_custkey", "c_name", "revenue", "c_acctbal", "n_name", "c_address",
                            "c_phone", "c_comment"]])
        if name == "tpch-q18":
            v = v.sort_values(["o_totalprice", "o_orderdate"], ascending=[False, True]).head(100)
            return _rows(v[["c_name", "c_custkey", "o_orderkey", "o_orderdate", "o_totalprice",
                            "sum_qty"]])
        return [[float(v)]]

    return _run(name, "dask", scheduler, repeat, query, answer, workers)
