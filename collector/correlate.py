"""The correlator: spans and logs joined by provenance ID into the jobs table; the calibrations and backend
status tables from the platform's records.

Incremental and idempotent: it remembers which store parts it has read; new parts name the jobs to
rebuild, each rebuilt from all of its spans wherever they are, and written over the partitions that held
it. Running it again on the same store changes nothing; rebuilding from scratch gives the same bytes.
A job's row is made by ``collector.job_rows``. A new part that does not read back whole is moved to quarantine
with its reason, and the rest is correlated.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import polars as pl

from collector.day_upsert import spill, upsert
from collector.job_rows import instant, jobs_from
from collector.store import quarantine_part, unreadable
from common.parallel import run_all
from contract.semconv import Attr, Event, Span
from contract.tables import (
    BACKEND_STATUS,
    BACKEND_STATUS_SCHEMA,
    CALIBRATION_SCHEMA,
    CALIBRATIONS,
    CORRELATED,
    DERIVED,
    JOBS,
    LOGS,
    SPANS,
    as_declared,
    parts,
    read_backend_status,
    read_calibrations,
    read_jobs,
    scan_raw,
)

CALIBRATION_ATTRIBUTES = {
    "calibration_id": Attr.CALIBRATION_ID,
    "backend": Attr.BACKEND,
    "control_group": Attr.CONTROL_GROUP,
    "attempt": Attr.CALIBRATION_ATTEMPT,
    "t1": Attr.CALIBRATION_T1,
    "t2": Attr.CALIBRATION_T2,
    "error_1q": Attr.CALIBRATION_ERROR_1Q,
    "error_2q": Attr.CALIBRATION_ERROR_2Q,
    "readout_error": Attr.CALIBRATION_READOUT_ERROR,
    "verdict": Attr.CALIBRATION_VERDICT,
    "reason": Attr.CALIBRATION_REASON,
    "in_rotation": Attr.IN_ROTATION,
}


def calibrations_from(spans: pl.LazyFrame) -> pl.LazyFrame:
    """Calibration runs, from platform records only (the collector refuses them from tenants' tokens)."""
    return (
        spans.filter((pl.col("name") == Span.CALIBRATION.value) & pl.col("ingest_tenant").is_null())
        .sort("start_ns", "span_id")
        .select(
            calibration_trace_id="trace_id",
            **{name: pl.col(attr.value) for name, attr in CALIBRATION_ATTRIBUTES.items()},
            started_at=instant("start_ns"),
            ended_at=instant("end_ns"),
        )
        .unique(subset=["calibration_trace_id"], keep="first", maintain_order=True)
        .sort("ended_at", "calibration_trace_id")
        .pipe(as_declared, CALIBRATION_SCHEMA)
    )


def backend_status_from(logs: pl.LazyFrame) -> pl.LazyFrame:
    """Backends going down and coming back, from platform records only; one row per backend, instant and status
    (a backend back up and down again at one instant is two changes, whatever order their records came in)."""
    backend, up = pl.col(Attr.BACKEND.value), pl.col(Attr.BACKEND_UP.value)
    return (
        logs.filter(pl.col("event_name") == Event.BACKEND_STATUS.value, pl.col("ingest_tenant").is_null(),
                    backend.is_not_null(), up.is_not_null())
        .select(status_key=pl.format("{}@{}@{}", backend, "time_ns", up), backend=backend, at=instant("time_ns"), up=up)
        .sort("status_key")
        .unique(subset=["status_key"], keep="first", maintain_order=True)
        .pipe(as_declared, BACKEND_STATUS_SCHEMA)
    )


BUCKET_SPANS = 750_000
"""Spans correlated at once in one slice: a larger store is correlated a share of its jobs at a time, so memory
holds the spans and jobs of the slices in hand (``CONCURRENT_SLICES`` of them), not the store's. A day of
820 k spans alone takes about 0.4 GB at the peak."""

CONCURRENT_SLICES = 2
"""Slices correlated at the same time: polars keeps only about one core and a quarter busy on one slice."""

SPILL = ".correlating"
"""Where rebuilt rows wait, a file per share and day, until they are merged into the tables' days
(``collector.day_upsert``)."""


@dataclass(frozen=True)
class _Share:
    """The jobs whose every record is in ``spans`` and ``logs`` (parts of the same days), ``slices`` of their
    provenance IDs at a time."""

    spans: list[Path]
    logs: list[Path]
    slices: int


def _slices_for(spans: int) -> int:
    """How many slices ``spans`` spans are correlated in, each within ``BUCKET_SPANS``."""
    return max(1, -(-spans // BUCKET_SPANS))


def _rows(files: list[Path]) -> int:
    return pl.scan_parquet(files, hive_partitioning=False).select(pl.len()).collect().item() if files else 0


def _shares(span_files: list[Path], log_files: list[Path]) -> list[_Share]:
    """Consecutive days grouped while their spans fit in ``BUCKET_SPANS``; a day that holds more is sliced by
    provenance ID. Each share reads only its own days' parts, not the store."""
    days: dict[str, tuple[list[Path], list[Path]]] = {}
    for files, side in ((span_files, 0), (log_files, 1)):
        for path in files:
            days.setdefault(path.parent.name, ([], []))[side].append(path)
    grouped: list[tuple[list[Path], list[Path], int]] = []
    for day in sorted(days):
        day_spans, day_logs = days[day]
        rows = _rows(day_spans)
        if not grouped or grouped[-1][2] + rows > BUCKET_SPANS:
            grouped.append(([], [], 0))
        spans, logs, held = grouped[-1]
        grouped[-1] = (spans + day_spans, logs + day_logs, held + rows)
    return [_Share(spans, logs, _slices_for(held)) for spans, logs, held in grouped]


def _jobs_in_shares(store: Path, span_files: list[Path], log_files: list[Path], to: Path,
                    rebuilt: pl.DataFrame | None = None, fresh: frozenset[Path] = frozenset()) -> None:
    """``jobs_from`` evaluated one share of the jobs at a time, each share's jobs spilled by day. With ``rebuilt``,
    only those provenance IDs are read from parts other than the ``fresh`` ones (every job in a fresh part is
    rebuilt). A job whose records sit in the parts of more than one share (one running over midnight, a late
    retry) is correlated afterwards, from every part, with the others like it."""
    pid = Attr.PROVENANCE_ID.value

    def scan(table: str, files: list[Path]) -> pl.LazyFrame:
        older = [f for f in files if f not in fresh]
        if rebuilt is None or not older:
            return scan_raw(store, table, files)
        return pl.concat([scan_raw(store, table, [f for f in files if f in fresh]),
                          scan_raw(store, table, older).join(rebuilt.lazy(), on=pid, how="semi")])

    shares = _shares(span_files, log_files)
    spread = pl.DataFrame(schema={pid: pl.String})
    if len(shares) > 1:
        located = pl.concat([
            pl.concat([scan(SPANS, share.spans).select(pid), scan(LOGS, share.logs).select(pid)])
            .drop_nulls().unique().with_columns(share=pl.lit(k))
            for k, share in enumerate(shares)
        ])
        spread = located.group_by(pid).agg(pl.len()).filter(pl.col("len") > 1).select(pid).collect()
    spread_job = pl.col(pid).is_in(spread[pid].implode()).fill_null(False)
    slices = [(scan(SPANS, share.spans).filter(~spread_job), scan(LOGS, share.logs).filter(~spread_job),
               f"share-{k}-{i}", share.slices, i)
              for k, share in enumerate(shares) for i in range(share.slices)]
    if not spread.is_empty():
        spans, logs = scan(SPANS, span_files).filter(spread_job), scan(LOGS, log_files).filter(spread_job)
        count = _slices_for(spans.select(pl.len()).collect().item())
        slices += [(spans, logs, f"spread-{i}", count, i) for i in range(count)]

    def correlate_slice(spans: pl.LazyFrame, logs: pl.LazyFrame, name: str, count: int, i: int) -> None:
        mine = pl.col(pid).hash(seed=0) % count == i
        spill(jobs_from(spans.filter(mine), logs.filter(mine)).collect(engine="in-memory"), to, name, "submitted_at")

    run_all([partial(correlate_slice, *work) for work in slices], CONCURRENT_SLICES)


@dataclass(frozen=True)
class Correlation:
    new_parts: int
    jobs_rebuilt: int
    calibrations_rebuilt: int
    statuses_rebuilt: int
    jobs_total: int
    quarantined: dict[str, str] = field(default_factory=dict)


def _parts(store: Path, table: str) -> dict[str, list[int]]:
    return {str(p.relative_to(store)): [p.stat().st_size, p.stat().st_mtime_ns] for p in parts(store, table)}


def _holding(store: Path, table: str, ids: pl.DataFrame) -> list[Path]:
    """The parts of ``table`` with a record of any of ``ids`` (one column, named as in the table), found by
    reading that column alone: an increment then reads in full only the parts its jobs are in, so its cost
    follows the day's data, not the store's."""
    if not parts(store, table) or ids.is_empty():
        return []
    column = ids.columns[0]
    held = (
        scan_raw(store, table, part_column="part")
        .select(column, "part")
        .join(ids.lazy(), on=column, how="semi")
        .select("part").unique()
        .collect()
    )
    return sorted(Path(p) for p in held["part"])


def _table(store: Path, name: str) -> pl.LazyFrame | None:
    try:
        return {JOBS: read_jobs, CALIBRATIONS: read_calibrations, BACKEND_STATUS: read_backend_status}[name](store)
    except FileNotFoundError:
        return None


def _touched(store: Path, new: list[str], table: str, select: pl.Expr, where: pl.Expr | None = None) -> pl.DataFrame:
    files = [store / p for p in new if p.startswith(f"{table}/")]
    if not files:
        return pl.DataFrame(schema={select.meta.output_name(): pl.String})
    frame = pl.scan_parquet(files, hive_partitioning=False)
    if where is not None:
        frame = frame.filter(where)
    return frame.select(select).drop_nulls().unique().collect()


def correlate(store: Path) -> Correlation:
    """Bring the jobs, calibrations and backend status tables up to date with the store's spans and logs.

    The three tables are derived: a part of theirs that does not read back whole is quarantined and all
    three are rebuilt from the spans and logs, rather than failing every run.
    """
    try:
        return _correlate(store)
    except Exception:
        bad = {p: reason for table in (JOBS, CALIBRATIONS, BACKEND_STATUS) for p in _parts(store, table)
               if (reason := unreadable(store / p)) is not None}
        if not bad:
            raise
    for part, reason in bad.items():
        quarantine_part(store, part, reason)
    for table in (JOBS, CALIBRATIONS, BACKEND_STATUS):
        shutil.rmtree(store / table, ignore_errors=True)
    (store / CORRELATED).unlink(missing_ok=True)
    rebuilt = _correlate(store)
    return replace(rebuilt, quarantined={**bad, **rebuilt.quarantined})


def _seen(state_path: Path) -> dict:
    """The parts correlated so far; an unreadable record of them means correlating everything again."""
    try:
        seen = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return {}
    return seen if isinstance(seen, dict) else {}


def _correlate(store: Path) -> Correlation:
    state_path = store / CORRELATED
    seen = _seen(state_path)
    current = {**_parts(store, SPANS), **_parts(store, LOGS)}
    new = sorted(p for p, stamp in current.items() if seen.get(p) != stamp)
    bad = {p: reason for p in new if (reason := unreadable(store / p)) is not None}
    for part, reason in bad.items():
        quarantine_part(store, part, reason)
        del current[part]
    new = [p for p in new if p not in bad]
    if not new:
        return Correlation(0, 0, 0, 0, _count(store), bad)
    from_scratch = len(new) == len(current)
    pid = Attr.PROVENANCE_ID.value
    spans, logs = scan_raw(store, SPANS), scan_raw(store, LOGS)
    calibrations = calibrations_from(spans)
    statuses = backend_status_from(logs if from_scratch else scan_raw(
        store, LOGS, [store / p for p in new if p.startswith(f"{LOGS}/")]))
    span_files, log_files, touched = parts(store, SPANS), parts(store, LOGS), None
    if not from_scratch:
        touched = pl.concat([_touched(store, new, SPANS, pl.col(pid)), _touched(store, new, LOGS, pl.col(pid))]).unique()
        span_files, log_files = _holding(store, SPANS, touched), _holding(store, LOGS, touched)
        changed = _touched(store, new, SPANS, pl.col("trace_id"), pl.col("name") == Span.CALIBRATION.value)
        calibrations = calibrations_from(scan_raw(store, SPANS, _holding(store, SPANS, changed))).join(
            changed.lazy().rename({"trace_id": "calibration_trace_id"}), on="calibration_trace_id", how="semi")
    spilled = store / SPILL
    shutil.rmtree(spilled, ignore_errors=True)
    try:
        _jobs_in_shares(store, span_files, log_files, spilled / JOBS, touched, frozenset(store / p for p in new))
        spill(calibrations.collect(), spilled / CALIBRATIONS, "rebuilt", "ended_at")
        spill(statuses.collect(), spilled / BACKEND_STATUS, "rebuilt", "at")
        jobs_rebuilt, calibrations_rebuilt, statuses_rebuilt = (
            upsert(store / table, key, time_column, spilled / table, _table(store, table), DERIVED[table])
            for table, key, time_column in ((JOBS, "provenance_id", "submitted_at"),
                                            (CALIBRATIONS, "calibration_trace_id", "ended_at"),
                                            (BACKEND_STATUS, "status_key", "at")))
    finally:
        shutil.rmtree(spilled, ignore_errors=True)
    tmp = state_path.with_name(f".{CORRELATED}.tmp")
    tmp.write_text(json.dumps(current, indent=0, sort_keys=True))
    tmp.replace(state_path)
    return Correlation(len(new), jobs_rebuilt, calibrations_rebuilt, statuses_rebuilt, _count(store), bad)


def _count(store: Path) -> int:
    table = _table(store, JOBS)
    return 0 if table is None else table.select(pl.len()).collect().item()
