"""Correlation at scale: a million jobs from scratch, then day after day of a million jobs, then the reports.

Run with `.venv/bin/python -m bench.correlate_scale [--jobs 1000000] [--days 30] [--work DIR]`. The store is
made here and not kept: the emulator's run of about ``--jobs`` jobs is written by the bulk sink (the source
day); each further day is that same telemetry moved onto its own calendar day with its own provenance IDs
(times compressed into the day, IDs prefixed with the day number), written as one more part of the store.
Every measured step is a child process (`qtenancy collector correlate`, `slo report`, `incidents list`)
whose wall time, CPU time and peak RSS are printed; the anchor, measured in the same run on the same
source day, is DuckDB doing the same correlation (root attributes, every stage's start and end, span and
log counts per provenance ID) in a child process of its own.
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

from bench.emulator import month_scenario
from bench.usage import PeakRss, cpu_seconds
from common.readable import count, duration, size

JOBS_PER_DAY = 74_607
"""Jobs per day of the benchmark scenario at seed 1, to size the source day."""
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
    from collector.correlate import ROOT_ATTRIBUTES
    from contract.semconv import STAGES

    root = ", ".join(f'arg_min("{attr.value}", (start_ns, span_id)) AS {name}' for name, attr in ROOT_ATTRIBUTES.items())
    stages = ", ".join(f"min(start_ns) FILTER (WHERE name = 'qtenancy.job.{s.value}') AS {s.value}_start, "
                       f"max(end_ns) FILTER (WHERE name = 'qtenancy.job.{s.value}') AS {s.value}_end" for s in STAGES)
    return DUCKDB_CORRELATION.format(store=store, out=out, root_attributes=root, stage_columns=stages)


def _source_day(jobs: int, store: Path) -> tuple[int, int]:
    from emulator.bulk_sink import write_bulk
    from emulator.run import emulate

    run = emulate(month_scenario(jobs / JOBS_PER_DAY), 1)
    written = write_bulk(run, store)
    return run.jobs.height, written["spans"]


def _moved_day(source: Path, store: Path, day: int) -> None:
    """The source's telemetry as day ``day`` after the source's first day: times compressed into that day,
    trace and provenance IDs prefixed with the day number (so each day's jobs are new jobs)."""
    import polars as pl

    from contract.semconv import Attr

    for table, time_columns in (("spans", ("start_ns", "end_ns")), ("logs", ("time_ns",))):
        frame = pl.scan_parquet(sorted((source / table).glob("day=*/*.parquet")), hive_partitioning=False)
        bounds = frame.select(pl.col(time_columns[0]).min().alias("lo"), pl.col(time_columns[-1]).max().alias("hi"))
        lo, hi = bounds.collect().row(0)
        first_day = lo // DAY_NS * DAY_NS
        scale = (DAY_NS - 1) / max(hi - lo, 1)
        prefix = f"{day:02x}"
        ids = [c for c in ("trace_id", Attr.PROVENANCE_ID.value) if c in frame.collect_schema()]
        moved = frame.with_columns(
            *[(pl.lit(first_day + day * DAY_NS) + ((pl.col(c) - lo) * scale).cast(pl.Int64)).alias(c) for c in time_columns],
            *[(pl.lit(prefix) + pl.col(c).str.slice(2)).alias(c) for c in ids],
        )
        date = time.strftime("%Y-%m-%d", time.gmtime((first_day + day * DAY_NS) / 1e9))
        target = store / table / f"day={date}" / f"moved-{day:02d}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        moved.sink_parquet(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--work", type=Path, default=None, help="where to make the stores (default: a temporary directory)")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qtenancy-bench-scale-", dir=options.work))
    qtenancy = [sys.executable, "-m", "qtenancy"]
    try:
        source = work / "source" / "store"
        jobs, spans = _source_day(options.jobs, source)
        print(f"source day: {count(jobs)} jobs, {count(spans)} spans (bulk sink)")
        anchor = _measured([sys.executable, "-c", f"import duckdb; duckdb.sql({_duckdb_sql(source, work / 'duck.parquet')!r})"])
        print(_line("anchor: DuckDB correlation from scratch", anchor, None, (15, 3 * 2**29)))
        from_scratch = _measured([*qtenancy, "collector", "correlate", "--data-dir", str(source.parent)])
        print(_line(f"qtenancy collector correlate from scratch ({count(jobs)} jobs)", from_scratch, anchor[0],
                    (15, 3 * 2**29)))
        days = work / "days" / "store"
        for day in range(options.days):
            _moved_day(source, days, day)
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
