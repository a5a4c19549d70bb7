"""Correlation at scale: a million jobs from scratch, then day after day of a million jobs, then the reports.

Run with `.venv/bin/python -m bench.correlate_scale [--jobs 1000000] [--days 30] [--work DIR]`. The store is
made here and not kept: one emulated day of the benchmark scenario is written by the bulk sink (the source),
and the store is made of copies of it, each with its own provenance and trace IDs (a prefix per copy) and
moved in time: the from-scratch store holds ``--jobs`` jobs as consecutive days, and each of the ``--days``
days holds ``--jobs`` jobs (copies moved onto that day), written as new parts before that day's correlation.
Every measured step is a child process (`qtenancy collector correlate`, `slo report`, `incidents list`)
whose wall time, CPU time and peak RSS are printed; the anchor, measured in the same run on the same
from-scratch store, is DuckDB doing the same correlation (root attributes, every stage's start and end, span
and log counts per provenance ID) in a child process of its own.
Targets in issue 20: 1 M jobs from scratch in 15 s and 1.5 GB; every daily increment under 1.5 GB; the SLO
report and `incidents list` over 30 M jobs in 30 s and 4 GB.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.month_scenario import month_scenario
from bench.usage import PeakRss, cpu_seconds
from common.readable import count, duration, size

DAY_NS = 86_400 * 10**9

DUCKDB_CORRELATION = """
COPY (
  WITH spans AS (SELECT * FROM read_parquet('{store}/spans/*/*.parquet')),
  logs AS (SELECT * FROM read_parquet('{store}/logs/*/*.parquet')),
  root AS (
    SELECT "qtenancy.provenance_id" AS pid, min(start_ns) AS root_start, arg_min(end_ns, start_ns) AS root_end,
      {root_attributes}
    FROM spans WHERE name = 'qtenancy.job' GROUP BY 1),
  stages AS (
    SELECT "qtenancy.provenance_id" AS pid, {stage_columns}, min(start_ns) AS first_ns,
      count(DISTINCT span_id) AS span_count
    FROM spans WHERE name LIKE 'qtenancy.job.%' GROUP BY 1),
  from_logs AS (
    SELECT "qtenancy.provenance_id" AS pid, count(DISTINCT (event_name, time_ns)) AS log_records
    FROM logs WHERE "qtenancy.provenance_id" IS NOT NULL GROUP BY 1),
  ids AS (SELECT pid FROM root UNION SELECT pid FROM stages UNION SELECT pid FROM from_logs)
  SELECT * FROM ids LEFT JOIN root USING (pid) LEFT JOIN stages USING (pid) LEFT JOIN from_logs USING (pid)
  ORDER BY coalesce(root_start, first_ns), pid
) TO '{out}' (FORMAT parquet)
"""


def _measured(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS of a child process."""
    cpu, started = cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with PeakRss(process.pid) as peak:
        _, errors = process.communicate()
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} failed: {errors[-2000:]}")
    return time.perf_counter() - started, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu, peak.peak


def _line(what: str, measured: tuple[float, float, int], anchor: float | None, target: tuple[float, int]) -> str:
    wall, cpu, peak = measured
    versus = f"{wall / anchor:.2f}x the anchor; " if anchor else ""
    return (f"{what}: {duration(wall)} ({versus}{wall / target[0]:.2f} of the {target[0]:g} s target), "
            f"{cpu:,.1f} s CPU, peak RSS {size(peak)} ({peak / target[1]:.2f} of the {size(target[1])} target)")


def _duckdb_sql(store: Path, out: Path) -> str:
    from collector.job_rows import ROOT_ATTRIBUTES
    from contract.semconv import STAGES

    root = ", ".join(f'arg_min("{attr.value}", (start_ns, span_id)) AS {name}' for name, attr in ROOT_ATTRIBUTES.items())
    stages = ", ".join(f"min(start_ns) FILTER (WHERE name = 'qtenancy.job.{s.value}') AS {s.value}_start, "
                       f"max(end_ns) FILTER (WHERE name = 'qtenancy.job.{s.value}') AS {s.value}_end" for s in STAGES)
    return DUCKDB_CORRELATION.format(store=store, out=out, root_attributes=root, stage_columns=stages)


def _source_day(store: Path, days: float) -> tuple[int, int]:
    from emulator.bulk_sink import write_bulk
    from emulator.run import emulate

    run = emulate(month_scenario(days), 1)
    written = write_bulk(run, store)
    return run.jobs.height, written["spans"]


def _copy(source: Path, store: Path, shift_days: int, copy: int) -> None:
    """One more copy of the source's telemetry in ``store``: ``shift_days`` later, its IDs prefixed with the copy's
    number (so its jobs are new jobs)."""
    import polars as pl

    from contract.semconv import Attr

    prefix = f"{copy:04x}"
    for table, time_columns in (("spans", ("start_ns", "end_ns")), ("logs", ("time_ns",))):
        frame = pl.scan_parquet(sorted((source / table).glob("day=*/*.parquet")), hive_partitioning=False)
        ids = [c for c in ("trace_id", "span_id", Attr.PROVENANCE_ID.value) if c in frame.collect_schema()]
        moved = frame.with_columns(
            *[(pl.col(c) + shift_days * DAY_NS).alias(c) for c in time_columns],
            *[(pl.lit(prefix) + pl.col(c).str.slice(len(prefix))).alias(c) for c in ids if c != "span_id"],
        )
        target = store / table / f"day=copy{copy:04d}" / "bulk.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        moved.sink_parquet(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs from scratch, and jobs per day")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--source-days", type=float, default=1.0, help="days of the emulated source (1: ~75,000 jobs)")
    parser.add_argument("--work", type=Path, default=None, help="where to make the stores (default: a temporary directory)")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qtenancy-bench-scale-", dir=options.work))
    qtenancy = [sys.executable, "-m", "qtenancy"]
    try:
        source = work / "source" / "store"
        per_source, spans = _source_day(source, options.source_days)
        copies = -(-options.jobs // per_source)
        jobs = per_source * copies
        print(f"source: {options.source_days:g} emulated day(s), {count(per_source)} jobs and {count(spans)} spans (bulk sink); "
              f"{copies} copies make {count(jobs)} jobs and {count(spans * copies)} spans")
        scratch = work / "scratch" / "store"
        for copy in range(copies):
            _copy(source, scratch, copy, copy)
        anchor = _measured([sys.executable, "-c",
                            f"import duckdb; duckdb.sql({_duckdb_sql(scratch, work / 'duck.parquet')!r})"])
        print(_line(f"anchor: DuckDB correlation from scratch ({count(jobs)} jobs)", anchor, None, (15, 3 * 2**29)))
        from_scratch = _measured([*qtenancy, "collector", "correlate", "--data-dir", str(scratch.parent)])
        print(_line(f"qtenancy collector correlate from scratch ({count(jobs)} jobs)", from_scratch, anchor[0],
                    (15, 3 * 2**29)), flush=True)
        shutil.rmtree(scratch.parent)
        days = work / "days" / "store"
        for day in range(options.days):
            for copy in range(copies):
                _copy(source, days, day, day * copies + copy)
            measured = _measured([*qtenancy, "collector", "correlate", "--data-dir", str(days.parent)])
            print(_line(f"day {day + 1}: correlate the new day ({count(jobs * (day + 1))} jobs in the store)", measured,
                        anchor[0], (15, 3 * 2**29)), flush=True)
        for args in (["slo", "report"], ["incidents", "list"]):
            measured = _measured([*qtenancy, *args, "--data-dir", str(days.parent)])
            print(_line(f"qtenancy {' '.join(args)} over {count(jobs * options.days)} jobs", measured, anchor[0],
                        (30, 4 * 2**30)), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
