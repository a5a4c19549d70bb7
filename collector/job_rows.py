"""A job's row from its records: spans and log records joined by provenance ID.

The meter a job was billed by is read from its meter span (or, failing that, its root span). A job missing
stages is kept and flagged (``complete`` false, ``missing_stages``): that is SLI M5.
"""

from __future__ import annotations

import polars as pl

from contract.billing import METER_COLUMNS
from contract.semconv import STAGES, Attr, Event, Span, Stage
from contract.tables import JOB_SCHEMA, RECORD_OWNER, as_declared, stage_names

JOB_SPAN_PREFIX = f"{Span.JOB.value}."
ROOT_ATTRIBUTES = {
    "tenant": Attr.TENANT,
    "namespace": Attr.NAMESPACE,
    "priority": Attr.PRIORITY,
    "workload": Attr.WORKLOAD,
    "backend": Attr.BACKEND,
    "control_group": Attr.CONTROL_GROUP,
    "circuit_hash": Attr.CIRCUIT_HASH,
    "circuit_family": Attr.CIRCUIT_FAMILY,
    "qubits": Attr.QUBITS,
    "shots": Attr.SHOTS,
    "reserved": Attr.RESERVED,
    "expected_runtime_seconds": Attr.EXPECTED_RUNTIME,
    "calibration_id": Attr.CALIBRATION_ID,
    "calibration_age_seconds": Attr.CALIBRATION_AGE,
    "outcome": Attr.OUTCOME,
    "reason": Attr.REASON,
    "usable": Attr.USABLE,
    "measured_fidelity": Attr.FIDELITY,
    "predicted_fidelity": Attr.PREDICTED_FIDELITY,
    "billed_seconds": Attr.BILLED_SECONDS,
    "billed_shots": Attr.BILLED_SHOTS,
    "fidelity_floor": Attr.FIDELITY_FLOOR,
    "queue_wait_target_seconds": Attr.QUEUE_WAIT_TARGET,
    "cost_policy": Attr.COST_POLICY,
    "declared_stages": Attr.STAGES,
    **{f"root_{column}": attr for column, attr in METER_COLUMNS.items()},
}
LOG_FALLBACK = ("tenant", "backend", "outcome", "reason", "usable")


def instant(column: str) -> pl.Expr:
    """An instant in ns since the epoch as the derived tables hold it: microseconds, UTC."""
    return pl.from_epoch(pl.col(column) // 1000, time_unit="us").dt.replace_time_zone("UTC")


def _seconds(start_ns: str, end_ns: str) -> pl.Expr:
    """Seconds between two instants in ns, multiplied rather than divided: polars divides a short column by a
    constant exactly but a longer one by multiplying with its reciprocal, so a job rebuilt alone would differ in
    the last bit from the same job correlated among many."""
    return (pl.col(end_ns) - pl.col(start_ns)) * 1e-9


def jobs_from(spans: pl.LazyFrame, logs: pl.LazyFrame) -> pl.LazyFrame:
    """One row per provenance ID, from every span and log record of those jobs.

    Where records of one job disagree, the earliest root span (then the lowest span ID) and the closing
    log record win, whatever order the parts were read in: incremental and rebuilt tables agree.
    """
    pid = Attr.PROVENANCE_ID.value
    stage_name = pl.col("name").str.strip_prefix(JOB_SPAN_PREFIX)
    job_spans = spans.filter(pl.col("name").str.starts_with(Span.JOB.value)).with_columns(
        stage=stage_name.replace_strict({s.value: i for i, s in enumerate(STAGES)}, default=None, return_dtype=pl.Int64),
        stage_bit=stage_name.replace_strict({s.value: 1 << i for i, s in enumerate(STAGES)}, default=None, return_dtype=pl.Int64),
    )
    root = (
        job_spans.filter(pl.col("name") == Span.JOB.value)
        .with_columns(RECORD_OWNER.alias(Attr.TENANT.value))
        .sort("start_ns", "span_id")
        .group_by(pid)
        .agg(
            pl.col("start_ns").first().alias("root_start"),
            pl.col("end_ns").first().alias("root_end"),
            *[pl.col(attr.value).first().alias(name) for name, attr in ROOT_ATTRIBUTES.items()],
        )
    )
    meter_span = pl.col("stage") == STAGES.index(Stage.METER)
    stage_columns = [pl.col(attr.value).filter(meter_span).drop_nulls().first().alias(column)
                     for column, attr in METER_COLUMNS.items()]
    for i, stage in enumerate(STAGES):
        mine = pl.col("stage") == i
        stage_columns += [
            pl.col("start_ns").filter(mine).min().alias(f"{stage.value}_start"),
            pl.col("end_ns").filter(mine).max().alias(f"{stage.value}_end"),
        ]
    stages = (
        job_spans.filter(pl.col("stage").is_not_null())
        .group_by(pid)
        .agg(
            *stage_columns,
            first_ns=pl.col("start_ns").min(),
            present_mask=pl.col("stage_bit").unique().sum(),
            span_count=pl.col("span_id").n_unique(),
        )
    )
    finished = pl.col("event_name") == Event.JOB_FINISHED.value
    from_logs = (
        logs.filter(pl.col(pid).is_not_null())
        .with_columns(RECORD_OWNER.alias(Attr.TENANT.value))
        .sort(finished, "time_ns", "event_name", "body", descending=[True, False, False, False], nulls_last=True)
        .group_by(pid)
        .agg(
            pl.col(Attr.TENANT.value).drop_nulls().first().alias("log_tenant"),
            pl.col(Attr.BACKEND.value).drop_nulls().first().alias("log_backend"),
            pl.col(Attr.OUTCOME.value).drop_nulls().first().alias("log_outcome"),
            pl.col(Attr.REASON.value).drop_nulls().first().alias("log_reason"),
            pl.col(Attr.USABLE.value).drop_nulls().first().alias("log_usable"),
            log_records=pl.struct("event_name", "time_ns").n_unique(),
        )
    )
    ids = pl.concat([root.select(pid), stages.select(pid), from_logs.select(pid)]).unique()
    present = stage_names(pl.col("present_mask").fill_null(0))
    declared = pl.col("declared_stages")
    return (
        ids.join(root, on=pid, how="left")
        .join(stages, on=pid, how="left")
        .join(from_logs, on=pid, how="left")
        .with_columns([pl.coalesce(name, f"log_{name}").alias(name) for name in LOG_FALLBACK])
        .with_columns([pl.coalesce(column, f"root_{column}").alias(column) for column in METER_COLUMNS])
        .with_columns(
            provenance_id=pl.col(pid),
            present_stages=present,
            has_root=pl.col("root_start").is_not_null(),
        )
        .with_columns(
            missing_stages=pl.when(declared.is_not_null())
            .then(declared.list.set_difference(pl.col("present_stages")))
            .otherwise(pl.lit(None, dtype=pl.List(pl.String))),
        )
        .with_columns(
            complete=pl.col("has_root") & (pl.col("missing_stages").list.len() == 0).fill_null(False),
            submitted_at=instant("root_start").fill_null(instant("first_ns")),
            finished_at=instant("root_end"),
            queue_wait_seconds=_seconds("queue_start", "queue_end"),
            exec_seconds=_seconds("execute_start", "execute_end"),
            submit_to_result_seconds=_seconds("root_start", "root_end"),
            **{f"{s.value}_start": instant(f"{s.value}_start") for s in STAGES},
            **{f"{s.value}_end": instant(f"{s.value}_end") for s in STAGES},
        )
        .with_columns(pl.col("span_count", "log_records").fill_null(0))
        .pipe(as_declared, JOB_SCHEMA)
        .sort("submitted_at", "provenance_id", nulls_last=True)
    )
