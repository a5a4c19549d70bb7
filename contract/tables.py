"""Every table qtenancy keeps, declared once: the raw store (spans, logs, metric points), the correlated
jobs, calibrations and backend status tables, and the signals the detectors raise; and the store's on-disk
layout.

Part of the contract because several rooms write and read them: the collector (from OTLP) and the
emulator's bulk sink write the raw tables, the correlator writes the derived ones, and every reader (the SLO
engine, the HTTP API, the postmortems) reads them through ``read_jobs``, ``read_calibrations`` and
``read_backend_status``, which hold them to these schemas. Every attribute of the contract is a typed column
named as the attribute; anything else a span or log record carries is kept as JSON in ``attributes``, and
nothing OTLP carries is dropped: the resource's attributes, the instrumentation scope, span events (such
as exceptions) and links, and a metric point's buckets, quantiles and exemplars are kept too (as JSON).

Layout: ``<root>/<table>/day=YYYY-MM-DD/<part>.parquet``, written to a temporary name and renamed.
Every page carries a CRC, so a part damaged on disk is found when it is read back (``read_verified``)
instead of yielding wrong rows.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from common.durable_files import fsync_directory
from contract.semconv import ATTRIBUTES, STAGES, Attr, Span

if TYPE_CHECKING:
    import pyarrow as pa

SPANS, LOGS, METRIC_POINTS = "spans", "logs", "metric_points"
JOBS, CALIBRATIONS, BACKEND_STATUS = "jobs", "calibrations", "backend_status"

ATTRIBUTE_TYPES = {"string": pl.String, "int": pl.Int64, "double": pl.Float64, "boolean": pl.Boolean,
                   "string[]": pl.List(pl.String)}
CONTRACT_COLUMNS: dict[str, pl.DataType] = {a.name.value: ATTRIBUTE_TYPES[a.type] for a in ATTRIBUTES}

ORIGIN: dict[str, pl.DataType] = {
    "resource_attributes": pl.String,
    "scope_name": pl.String,
    "scope_version": pl.String,
    "scope_attributes": pl.String,
}
"""Where a record came from: its resource (as JSON) and instrumentation scope, for every raw table."""

SPAN_SCHEMA: dict[str, pl.DataType] = {
    "trace_id": pl.String,
    "span_id": pl.String,
    "parent_span_id": pl.String,
    "name": pl.String,
    "kind": pl.Int8,
    "start_ns": pl.Int64,
    "end_ns": pl.Int64,
    "status_code": pl.Int8,
    "status_message": pl.String,
    "service_name": pl.String,
    "ingest_tenant": pl.String,
    **CONTRACT_COLUMNS,
    "attributes": pl.String,
    "events": pl.String,
    "links": pl.String,
    **ORIGIN,
}

LOG_SCHEMA: dict[str, pl.DataType] = {
    "trace_id": pl.String,
    "span_id": pl.String,
    "time_ns": pl.Int64,
    "severity_number": pl.Int8,
    "severity_text": pl.String,
    "event_name": pl.String,
    "body": pl.String,
    "service_name": pl.String,
    "ingest_tenant": pl.String,
    **CONTRACT_COLUMNS,
    "attributes": pl.String,
    **ORIGIN,
}

METRIC_POINT_SCHEMA: dict[str, pl.DataType] = {
    "name": pl.String,
    "type": pl.String,
    "unit": pl.String,
    "time_ns": pl.Int64,
    "value": pl.Float64,
    "count": pl.Int64,
    "service_name": pl.String,
    "ingest_tenant": pl.String,
    "attributes": pl.String,
    "distribution": pl.String,
    "exemplars": pl.String,
    **ORIGIN,
}

SCHEMAS = {SPANS: SPAN_SCHEMA, LOGS: LOG_SCHEMA, METRIC_POINTS: METRIC_POINT_SCHEMA}
JSON_COLUMNS = ("attributes", "events", "links", "resource_attributes", "scope_attributes", "distribution", "exemplars")
"""The raw tables' columns that hold JSON documents (readers hand them on as structures, not strings)."""
RECORD_OWNER = pl.coalesce("ingest_tenant", Attr.TENANT.value)
"""Whose a stored span or log record is: its token's tenant, or for a platform token the tenant it names (the
collector refuses a tenant's record that names another, so the two never disagree)."""

UTC_US = pl.Datetime("us", "UTC")
STAGE_TIMES: dict[str, pl.DataType] = {f"{s.value}_{edge}": UTC_US for s in STAGES for edge in ("start", "end")}

JOB_SCHEMA: dict[str, pl.DataType] = {
    "provenance_id": pl.String,
    "tenant": pl.String,
    "namespace": pl.String,
    "priority": pl.String,
    "workload": pl.String,
    "backend": pl.String,
    "control_group": pl.String,
    "circuit_hash": pl.String,
    "circuit_family": pl.String,
    "qubits": pl.Int64,
    "shots": pl.Int64,
    "reserved": pl.Boolean,
    "expected_runtime_seconds": pl.Float64,
    "calibration_id": pl.Int64,
    "calibration_age_seconds": pl.Float64,
    "outcome": pl.String,
    "reason": pl.String,
    "usable": pl.Boolean,
    "measured_fidelity": pl.Float64,
    "predicted_fidelity": pl.Float64,
    "billed_seconds": pl.Float64,
    "billed_shots": pl.Int64,
    "meter": pl.String,
    "meter_granularity_seconds": pl.Float64,
    "meter_minimum_seconds": pl.Float64,
    "meter_reserved_jobs": pl.String,
    "fidelity_floor": pl.Float64,
    "queue_wait_target_seconds": pl.Float64,
    "cost_policy": pl.String,
    "declared_stages": pl.List(pl.String),
    "submitted_at": UTC_US,
    "finished_at": UTC_US,
    "queue_wait_seconds": pl.Float64,
    "exec_seconds": pl.Float64,
    "submit_to_result_seconds": pl.Float64,
    **STAGE_TIMES,
    "present_stages": pl.List(pl.String),
    "missing_stages": pl.List(pl.String),
    "has_root": pl.Boolean,
    "complete": pl.Boolean,
    "span_count": pl.Int64,
    "log_records": pl.Int64,
}
"""One row per provenance ID: what the correlator makes of a job's spans and log records."""

CALIBRATION_SCHEMA: dict[str, pl.DataType] = {
    "calibration_trace_id": pl.String,
    "calibration_id": pl.Int64,
    "backend": pl.String,
    "control_group": pl.String,
    "attempt": pl.Int64,
    "t1": pl.Float64,
    "t2": pl.Float64,
    "error_1q": pl.Float64,
    "error_2q": pl.Float64,
    "readout_error": pl.Float64,
    "verdict": pl.String,
    "reason": pl.String,
    "in_rotation": pl.Boolean,
    "started_at": UTC_US,
    "ended_at": UTC_US,
}
"""One row per calibration run."""

BACKEND_STATUS_SCHEMA: dict[str, pl.DataType] = {
    "status_key": pl.String,
    "backend": pl.String,
    "at": UTC_US,
    "up": pl.Boolean,
}
"""One row per reported change of a backend's status (``status_key``: backend and instant, its identity)."""

SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "signal": pl.String, "sli": pl.String, "alert": pl.String, "severity": pl.String, "backends": pl.List(pl.String),
    "tenants": pl.List(pl.String), "suspect": pl.String, "start": UTC_US, "detected_at": UTC_US, "end": UTC_US,
    "jobs": pl.Int64, "first_job": pl.String, "evidence": pl.String,
}
"""What one alert would have said, as the analytical path finds it (see ``slo/incidents.py``)."""

DERIVED = {JOBS: JOB_SCHEMA, CALIBRATIONS: CALIBRATION_SCHEMA, BACKEND_STATUS: BACKEND_STATUS_SCHEMA}
TIME_COLUMN = {SPANS: "start_ns", LOGS: "time_ns", METRIC_POINTS: "time_ns"}
IDENTITY = {
    SPANS: ("trace_id", "span_id"),
    LOGS: ("trace_id", "span_id", "time_ns", "event_name", "body"),
    METRIC_POINTS: ("name", "time_ns", "attributes", "service_name"),
}
"""The columns that identify a record: a delivery retried by a client is the same record again."""


def stage_names(mask: pl.Expr) -> pl.Expr:
    """The stage names whose bits are set in ``mask`` (bit i is ``STAGES[i]``), in lifecycle order."""
    return pl.concat_list(
        [pl.when((mask & (1 << i)) != 0).then(pl.lit(s.value)) for i, s in enumerate(STAGES)]
    ).list.drop_nulls()


def day_of(time_ns: pl.Expr) -> pl.Expr:
    return pl.from_epoch(time_ns, time_unit="ns").dt.strftime("%Y-%m-%d")


def empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMAS[table])


def conform(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Columns of the table's schema in its order, missing ones null."""
    schema = SCHEMAS[table]
    return frame.select(
        [(pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c) for c, t in schema.items()]
    )


ROW_GROUP_ROWS = 131_072
"""Rows a part's row group holds at most: a part is written, and checked when read back, a row group at a time."""


def write_atomic(frame: pl.DataFrame, path: Path) -> None:
    write_row_groups((frame.slice(start, ROW_GROUP_ROWS) for start in range(0, max(frame.height, 1), ROW_GROUP_ROWS)),
                     path)


def write_row_groups(groups: Iterable[pl.DataFrame], path: Path) -> None:
    """Write ``groups`` (at least one, each in the part's schema) durably as one part, to a temporary name renamed
    when complete: a part made a slice at a time is never in memory whole."""
    import pyarrow.parquet as pq  # only writers and verifiers load pyarrow, never the read commands

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        writer = None
        for rows in groups:
            table = rows.to_arrow(compat_level=pl.CompatLevel.newest())  # string views as they are, not copied
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd", compression_level=3,
                                          write_statistics=True, write_page_checksum=True)
            writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        writer.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def verified_arrow_row_groups(path: Path) -> Iterator[pa.Table]:
    """A part's row groups as Arrow tables, one at a time, with every page's CRC checked; raises on any damage."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    part = pq.ParquetFile(path, page_checksum_verification=True)
    try:
        for group in range(part.num_row_groups):
            yield part.read_row_group(group)
    finally:
        pa.default_memory_pool().release_unused()


def verified_row_groups(path: Path) -> Iterator[pl.DataFrame]:
    """A part's row groups, one at a time, with every page's CRC checked; raises on any damage."""
    for group in verified_arrow_row_groups(path):
        yield pl.from_arrow(group)


def write_partitioned(frame: pl.DataFrame, root: Path, table: str, part: str) -> list[Path]:
    """Write ``frame`` as ``<root>/<table>/day=D/<part>.parquet`` for each day it covers."""
    if frame.is_empty():
        return []
    with_day = frame.with_columns(_day=day_of(pl.col(TIME_COLUMN[table])))
    written = []
    for (day,), rows in with_day.partition_by("_day", as_dict=True, maintain_order=True).items():
        path = root / table / f"day={day}" / f"{part}.parquet"
        write_atomic(rows.drop("_day"), path)
        written.append(path)
    return sorted(written)


def parts(root: Path, table: str) -> list[Path]:
    """A table's Parquet parts, in the day partitions every table is written in."""
    return sorted((root / table).glob("day=*/*.parquet"))


def scan_raw(root: Path, table: str, files: list[Path] | None = None, part_column: str | None = None) -> pl.LazyFrame:
    """A table's parts as delivered (or only ``files`` of them; with ``part_column``, each record's part path
    in that column): a client's retry may appear twice (harmless to any aggregate)."""
    files = parts(root, table) if files is None else files
    if not files:
        return empty(table).lazy()
    return pl.scan_parquet(files, hive_partitioning=False, missing_columns="insert", extra_columns="ignore",
                           schema=SCHEMAS[table], include_file_paths=part_column)


def scan(root: Path, table: str) -> pl.LazyFrame:
    """Every part of a table, de-duplicated by record identity (first delivery wins)."""
    return scan_raw(root, table).unique(subset=list(IDENTITY[table]), keep="first", maintain_order=True)


def as_declared(frame: pl.LazyFrame, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
    """Exactly the declared columns, in their order and types: a column a writer forgot is an error."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def _derived(store: Path, table: str) -> pl.LazyFrame | None:
    files = parts(store, table)
    return pl.scan_parquet(files, hive_partitioning=False, schema=DERIVED[table]) if files else None


CORRELATED = "correlated.json"
"""The correlator's record of the store parts it has read, in the store: its presence means "correlated"."""


class NoJobs(FileNotFoundError):
    """The store was correlated and holds no job: an answer (zero jobs), not a missing table."""


def read_jobs(store: Path) -> pl.LazyFrame:
    """The correlated jobs table in its declared schema. FileNotFoundError says which of three states the
    store is in: no store at all, not correlated yet, or correlated with no job in it."""
    table = _derived(store, JOBS)
    if table is not None:
        return table
    if not store.is_dir():
        raise FileNotFoundError(f"{store}: no store here (nothing was received or ingested into this data directory)")
    if not (store / CORRELATED).exists():
        raise FileNotFoundError(f"{store / JOBS}: no jobs table yet; run `qtenancy collector correlate`")
    raise NoJobs(f"{store}: correlated, 0 jobs found (no `{Span.JOB.value}` spans in the store)")


def read_backend_status(store: Path) -> pl.LazyFrame:
    """The correlated backend status changes; empty when the broker reported none (or nothing is correlated)."""
    table = _derived(store, BACKEND_STATUS)
    return pl.DataFrame(schema=BACKEND_STATUS_SCHEMA).lazy() if table is None else table


def read_calibrations(store: Path) -> pl.LazyFrame:
    """The correlated calibrations table; empty (not missing) once the store was correlated, since a broker
    need not report calibration runs at all."""
    table = _derived(store, CALIBRATIONS)
    if table is not None:
        return table
    if not (store / CORRELATED).exists():
        raise FileNotFoundError(f"{store / CALIBRATIONS}: no calibrations table yet")
    return pl.DataFrame(schema=CALIBRATION_SCHEMA).lazy()
