"""SLO engine throughput: the SLI suite per tenant, backend and day over 10 million jobs, in polars,
beside the same computation in pandas and in DuckDB, in the same run.

Run with `make bench` or `.venv/bin/python -m bench.slo [--jobs 10000000]`. The jobs table is synthetic
(seeded, with the correlated table's columns and realistic distributions: emulating ten million jobs
would time the emulator, not the engine). All three engines must agree on every count; the script checks.
Target in issue 5: polars under 10 s on 2 cores and at least 10 times faster than pandas.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import duckdb
import numpy as np
import pandas as pd
import polars as pl

from slo.catalogue import SliParameters
from slo.suite import daily_suite

START = datetime(2026, 11, 1, tzinfo=UTC)
TENANTS = [f"tenant{i:02d}" for i in range(20)]
BACKENDS = [f"qpu{i}" for i in range(8)]
PARAMS = SliParameters(queue_wait_seconds=300.0)


def synthetic_jobs(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    submitted = START.timestamp() + np.sort(rng.uniform(0, 30 * 86400, n))
    wait = rng.exponential(120.0, n)
    execute = rng.lognormal(1.2, 0.5, n)
    start = submitted + 2.0 + wait
    end = start + execute
    finished = end + 0.6
    outcome = rng.choice(np.array(["succeeded", "failed", "rejected", "timed_out"]), n, p=[0.95, 0.02, 0.02, 0.01])
    billed = (np.ceil(end / 5.0) - np.ceil(start / 5.0)) * 5.0 * np.where(rng.uniform(size=n) < 0.01, 0.5, 1.0)

    def at(seconds):
        return pl.from_epoch(pl.Series((seconds * 1e6).astype(np.int64)), time_unit="us").dt.replace_time_zone("UTC")

    return pl.DataFrame({
        "tenant": rng.choice(TENANTS, n), "backend": rng.choice(BACKENDS, n), "outcome": outcome,
        "usable": (outcome == "succeeded") & (rng.uniform(size=n) < 0.98),
        "submitted_at": at(submitted), "execute_start": at(start), "execute_end": at(end), "finished_at": at(finished),
        "queue_wait_seconds": wait, "exec_seconds": execute, "billed_seconds": billed,
        "expected_runtime_seconds": execute * rng.uniform(0.8, 1.2, n), "submit_to_result_seconds": finished - submitted,
        "has_root": rng.uniform(size=n) < 0.999, "complete": rng.uniform(size=n) < 0.995,
    })


def with_pandas(jobs: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    p = PARAMS
    closed = jobs["finished_at"].notna() & (jobs["outcome"] != "rejected")
    ticks = lambda t: np.ceil(t.astype("int64") / (p.meter_granularity_seconds * 1e6))  # noqa: E731
    owed = (ticks(jobs["execute_end"]) - ticks(jobs["execute_start"])) * p.meter_granularity_seconds
    grace = pd.Timestamp(as_of) - pd.Timedelta(seconds=p.completeness_grace_seconds)
    columns = {
        "M1_total": closed, "M1_good": closed & jobs["usable"],
        "M2_total": jobs["queue_wait_seconds"].notna() & jobs["execute_start"].notna(),
        "M2_good": (jobs["queue_wait_seconds"] <= p.queue_wait_seconds) & jobs["execute_start"].notna(),
        "M5_total": jobs["has_root"] | (jobs["submitted_at"] <= grace),
        "M5_good": (jobs["has_root"] | (jobs["submitted_at"] <= grace)) & jobs["complete"],
        "M6_total": jobs["execute_end"].notna() & jobs["finished_at"].notna(),
        "M6_good": jobs["execute_end"].notna() & jobs["finished_at"].notna()
        & ((jobs["billed_seconds"] - owed).abs() <= p.billing_tolerance_seconds),
        "M8_total": closed & jobs["expected_runtime_seconds"].notna() & jobs["execute_start"].notna(),
        "M8_good": closed & jobs["execute_start"].notna()
        & ((jobs["finished_at"] - jobs["execute_start"]).dt.total_seconds()
           <= p.latency_factor * jobs["expected_runtime_seconds"]),
    }
    frame = pd.DataFrame({"tenant": jobs["tenant"], "backend": jobs["backend"],
                          "day": jobs["submitted_at"].dt.date, **columns})
    return frame.groupby(["tenant", "backend", "day"], sort=True).sum().reset_index()


DUCKDB_SQL = """
SELECT tenant, backend, CAST(submitted_at AS DATE) AS day,
  SUM((finished_at IS NOT NULL AND outcome <> 'rejected')::INT) AS M1_total,
  SUM((finished_at IS NOT NULL AND outcome <> 'rejected' AND usable)::INT) AS M1_good,
  SUM((queue_wait_seconds IS NOT NULL AND execute_start IS NOT NULL)::INT) AS M2_total,
  SUM((queue_wait_seconds <= $wait AND execute_start IS NOT NULL)::INT) AS M2_good,
  SUM((has_root OR submitted_at <= $grace)::INT) AS M5_total,
  SUM(((has_root OR submitted_at <= $grace) AND complete)::INT) AS M5_good,
  SUM((execute_end IS NOT NULL AND finished_at IS NOT NULL)::INT) AS M6_total,
  SUM((execute_end IS NOT NULL AND finished_at IS NOT NULL AND abs(billed_seconds - (
      ceil(epoch_us(execute_end) / ($granularity * 1e6)) - ceil(epoch_us(execute_start) / ($granularity * 1e6))
  ) * $granularity) <= $tolerance)::INT) AS M6_good,
  SUM((finished_at IS NOT NULL AND outcome <> 'rejected' AND expected_runtime_seconds IS NOT NULL
       AND execute_start IS NOT NULL)::INT) AS M8_total,
  SUM((finished_at IS NOT NULL AND outcome <> 'rejected' AND execute_start IS NOT NULL
       AND epoch_us(finished_at) - epoch_us(execute_start) <= $factor * expected_runtime_seconds * 1e6)::INT) AS M8_good
FROM jobs GROUP BY ALL ORDER BY ALL
"""


def with_duckdb(jobs: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    p = PARAMS
    connection = duckdb.connect()
    connection.register("jobs", jobs.to_arrow())
    grace = as_of.timestamp() - p.completeness_grace_seconds
    return pl.from_arrow(connection.sql(DUCKDB_SQL, params={
        "wait": p.queue_wait_seconds, "grace": datetime.fromtimestamp(grace, UTC), "granularity": p.meter_granularity_seconds,
        "tolerance": p.billing_tolerance_seconds, "factor": p.latency_factor,
    }).to_arrow_table())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000_000)
    args = parser.parse_args()
    jobs = synthetic_jobs(args.jobs)
    as_of = START.replace(day=30)
    started = time.perf_counter()
    result = daily_suite(jobs.lazy(), PARAMS, as_of).collect()
    polars_seconds = time.perf_counter() - started
    frame = jobs.to_pandas()
    started = time.perf_counter()
    expected = with_pandas(frame, as_of)
    pandas_seconds = time.perf_counter() - started
    started = time.perf_counter()
    in_duckdb = with_duckdb(jobs, as_of)
    duckdb_seconds = time.perf_counter() - started
    counts = [c for c in result.columns if c.endswith(("_total", "_good"))]
    assert result.select(counts).sum().rows() == pl.from_pandas(expected[counts]).sum().rows(), "pandas disagrees"
    assert result.select(counts).sum().rows() == in_duckdb.select(counts).sum().rows(), "duckdb disagrees"
    print(f"jobs: {args.jobs:,}; groups (tenant x backend x day): {result.height:,}; SLIs: M1, M2, M5, M6, M8")
    print(f"polars (lazy, the engine's own expressions): {polars_seconds:.2f} s")
    print(f"pandas: {pandas_seconds:.2f} s ({pandas_seconds / polars_seconds:.1f}x polars)")
    print(f"duckdb: {duckdb_seconds:.2f} s ({duckdb_seconds / polars_seconds:.1f}x polars)")


if __name__ == "__main__":
    main()
