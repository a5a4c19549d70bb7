"""Every span and log record of a run as rows, built once with polars and shared by all sinks.

The OTLP sink turns these rows into SDK spans and log records; the bulk sink writes them straight into
the collector's Parquet layout. One source means both paths deliver the same telemetry, field by field.
Columns follow the store's schema (``contract.tables``), plus ``group`` (which attributes a row may
carry), ``order`` (tie-break in export order), ``dropped`` (fault F3 loses it) and ``delay_ns`` (F3 holds
it back). Rows come sorted in export order: by end time, as a live broker emits them.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import polars as pl

from contract.billing import METER_COLUMNS
from contract.semconv import STAGES, Attr, CalibrationVerdict, Event, Outcome, Span
from contract.tables import stage_names
from emulator.job_trace import FAILING_STAGE, present_stage_mask, stage_spans

if TYPE_CHECKING:
    from emulator.run import EmulationRun

STAGE_GROUP, ROOT_GROUP, CALIBRATION_GROUP, ADMISSION_GROUP, FINISHED_GROUP, STATUS_GROUP = range(6)
ROOT_ORDER = len(STAGES)
SERVICE_NAME = "qtenancy-broker"
KIND_INTERNAL, KIND_SERVER = 1, 2
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
SEVERITY_INFO, SEVERITY_WARN = 9, 13

ROOT_COLUMNS = {
    Attr.PROVENANCE_ID: "provenance_id",
    Attr.JOB_ID: "job_id",
    Attr.TENANT: "tenant",
    Attr.NAMESPACE: "namespace",
    Attr.PRIORITY: "priority",
    Attr.WORKLOAD: "workload",
    Attr.BACKEND: "backend",
    Attr.CONTROL_GROUP: "control_group",
    Attr.SHOTS: "shots",
    Attr.QUBITS: "qubits",
    Attr.CIRCUIT_HASH: "circuit_hash",
    Attr.CIRCUIT_FAMILY: "circuit_family",
    Attr.RESERVED: "reserved",
    Attr.EXPECTED_RUNTIME: "expected_runtime_seconds",
    Attr.CALIBRATION_ID: "calibration_id",
    Attr.CALIBRATION_AGE: "calibration_age_seconds",
    Attr.OUTCOME: "outcome",
    Attr.REASON: "reason",
    Attr.USABLE: "usable",
    Attr.FIDELITY: "measured_fidelity",
    Attr.PREDICTED_FIDELITY: "predicted_fidelity",
    Attr.BILLED_SECONDS: "billed_seconds",
    Attr.BILLED_SHOTS: "billed_shots",
    Attr.FIDELITY_FLOOR: "fidelity_floor",
    Attr.QUEUE_WAIT_TARGET: "queue_wait_target_seconds",
    Attr.COST_POLICY: "cost_policy",
    **{attr: column for column, attr in METER_COLUMNS.items()},
}
STAGE_EXTRA = {
    "calibration_check": (Attr.CALIBRATION_ID, Attr.CALIBRATION_AGE),
    "meter": (Attr.BILLED_SECONDS, Attr.BILLED_SHOTS, *METER_COLUMNS.values()),
}
ADMISSION_ATTRIBUTES = (Attr.PROVENANCE_ID, Attr.TENANT, Attr.OUTCOME, Attr.REASON)
FINISHED_ATTRIBUTES = (Attr.PROVENANCE_ID, Attr.TENANT, Attr.BACKEND, Attr.OUTCOME, Attr.REASON, Attr.USABLE)
CALIBRATION_COLUMNS = {
    Attr.CALIBRATION_ID: "calibration_id",
    Attr.BACKEND: "backend",
    Attr.CONTROL_GROUP: "control_group",
    Attr.CALIBRATION_ATTEMPT: "attempt",
    Attr.CALIBRATION_T1: "t1",
    Attr.CALIBRATION_T2: "t2",
    Attr.CALIBRATION_ERROR_1Q: "error_1q",
    Attr.CALIBRATION_ERROR_2Q: "error_2q",
    Attr.CALIBRATION_READOUT_ERROR: "readout_error",
    Attr.CALIBRATION_VERDICT: "verdict",
    Attr.CALIBRATION_REASON: "reason",
    Attr.IN_ROTATION: "in_rotation",
}
ATTRIBUTES_OF_GROUP: dict[int, tuple[str, ...]] = {
    STAGE_GROUP: (Attr.PROVENANCE_ID.value, *sorted({a.value for extra in STAGE_EXTRA.values() for a in extra})),
    ROOT_GROUP: (*(a.value for a in ROOT_COLUMNS), Attr.STAGES.value),
    CALIBRATION_GROUP: tuple(a.value for a in CALIBRATION_COLUMNS),
    ADMISSION_GROUP: tuple(a.value for a in ADMISSION_ATTRIBUTES),
    FINISHED_GROUP: tuple(a.value for a in FINISHED_ATTRIBUTES),
    STATUS_GROUP: (Attr.BACKEND.value, Attr.BACKEND_UP.value),
}
"""The attribute columns a row of each group may fill; a null one is left out of the record."""

_ORDER_HEX = {i: f"{i + 1:02x}" for i in range(ROOT_ORDER + 1)}


def span_id(trace_id: pl.Expr, order: pl.Expr) -> pl.Expr:
    """The last 56 bits of the trace ID and the span's place in it: unique in its trace, never zero."""
    return trace_id.str.slice(18) + order.replace_strict(_ORDER_HEX, return_dtype=pl.String)


def calibration_trace_id(scenario: str, seed: int, calibration_id: int) -> str:
    """Calibration traces get IDs derived from the run, so the same seed exports the same bytes."""
    text = f"{scenario}/{seed}/calibration/{calibration_id}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def status_rows(statuses: pl.DataFrame, scenario: str, seed: int) -> pl.LazyFrame:
    """A run's backend status changes with the trace IDs of their records (each its own trace, derived from
    the run as calibration traces are), for the log rows below."""
    ids = [hashlib.blake2b(f"{scenario}/{seed}/backend/{backend}/{at.isoformat()}/{up}".encode(),
                           digest_size=16).hexdigest()
           for backend, at, up in statuses.select("backend", "at", "up").iter_rows()]
    return statuses.lazy().with_row_index("seq").with_columns(trace_id=pl.Series(ids, dtype=pl.String))


def _ns(column: str) -> pl.Expr:
    return pl.col(column).dt.epoch("ns")


def _jobs(jobs: pl.LazyFrame) -> pl.LazyFrame:
    return jobs.with_columns(
        declared=stage_names(present_stage_mask()),
        delay_ns=(pl.col("telemetry_delay_seconds") * 1e9).cast(pl.Int64),
        root_span_id=span_id(pl.col("provenance_id"), pl.lit(ROOT_ORDER)),
    )


def _stage_spans(jobs: pl.LazyFrame) -> pl.LazyFrame:
    failing = pl.col("reason").replace_strict(
        {str(r): STAGES.index(s) for r, s in FAILING_STAGE.items()}, default=None, return_dtype=pl.Int64
    )
    order = pl.col("stage").cast(pl.Int64)
    name = order.replace_strict({i: s.value for i, s in enumerate(STAGES)}, return_dtype=pl.String)
    error = failing == order
    return (
        stage_spans(jobs)
        .join(jobs, on="job_id", how="left")
        .with_columns(stage_name=name, order=order)
        .select(
            trace_id="provenance_id",
            span_id=span_id(pl.col("provenance_id"), pl.col("order")),
            parent_span_id="root_span_id",
            name=pl.lit(f"{Span.JOB.value}.") + pl.col("stage_name"),
            kind=pl.lit(KIND_INTERNAL),
            start_ns="start_ns",
            end_ns="end_ns",
            status_code=pl.when(error).then(STATUS_ERROR).otherwise(STATUS_UNSET),
            status_message=pl.when(error).then(pl.col("reason")),
            group=pl.lit(STAGE_GROUP),
            order="order",
            seq="job_id",
            dropped=pl.col("telemetry_lost_stages").list.contains(pl.col("stage_name")),
            delay_ns="delay_ns",
            **{Attr.PROVENANCE_ID.value: pl.col("provenance_id")},
            **{
                attr.value: pl.when(pl.col("stage_name") == stage).then(pl.col(ROOT_COLUMNS[attr]))
                for stage, attrs in STAGE_EXTRA.items()
                for attr in attrs
            },
        )
    )


def _root_spans(jobs: pl.LazyFrame) -> pl.LazyFrame:
    ok = pl.col("outcome") == Outcome.SUCCEEDED.value
    return jobs.filter(pl.col("finished_at").is_not_null()).select(
        trace_id="provenance_id",
        span_id="root_span_id",
        parent_span_id=pl.lit(None, dtype=pl.String),
        name=pl.lit(Span.JOB.value),
        kind=pl.lit(KIND_SERVER),
        start_ns=_ns("submitted_at"),
        end_ns=_ns("finished_at"),
        status_code=pl.when(ok).then(STATUS_UNSET).otherwise(STATUS_ERROR),
        status_message=pl.when(~ok).then(pl.concat_str("outcome", pl.lit(": "), pl.col("reason").fill_null("null"))),
        group=pl.lit(ROOT_GROUP),
        order=pl.lit(ROOT_ORDER),
        seq="job_id",
        dropped=pl.lit(False),
        delay_ns="delay_ns",
        **{attr.value: pl.col(column) for attr, column in ROOT_COLUMNS.items()},
        **{Attr.STAGES.value: pl.col("declared")},
    )


def calibration_rows(calibrations: pl.DataFrame, scenario: str, seed: int) -> pl.LazyFrame:
    """A run's calibration runs with their trace IDs and export order, for the span and log rows below."""
    ids = [calibration_trace_id(scenario, seed, c) for c in calibrations["calibration_id"]]
    return calibrations.lazy().with_row_index("seq").with_columns(
        trace_id=pl.Series(ids, dtype=pl.String),
        passed=pl.col("verdict") == CalibrationVerdict.PASS.value,
    )


def _calibration_spans(calibrations: pl.LazyFrame) -> pl.LazyFrame:
    return calibrations.select(
        "trace_id",
        span_id=span_id(pl.col("trace_id"), pl.lit(ROOT_ORDER)),
        parent_span_id=pl.lit(None, dtype=pl.String),
        name=pl.lit(Span.CALIBRATION.value),
        kind=pl.lit(KIND_INTERNAL),
        start_ns=_ns("started_at"),
        end_ns=_ns("ended_at"),
        status_code=pl.when("passed").then(STATUS_OK).otherwise(STATUS_ERROR),
        status_message=pl.when(~pl.col("passed")).then(pl.col("reason")),
        group=pl.lit(CALIBRATION_GROUP),
        order=pl.lit(ROOT_ORDER + 1),
        seq=pl.col("seq").cast(pl.Int64),
        dropped=pl.lit(False),
        delay_ns=pl.lit(0, dtype=pl.Int64),
        **{attr.value: pl.col(column) for attr, column in CALIBRATION_COLUMNS.items()},
    )


def _job_logs(jobs: pl.LazyFrame) -> pl.LazyFrame:
    rejected = pl.col("outcome") == Outcome.REJECTED.value
    common = {"trace_id": pl.col("provenance_id"), "span_id": pl.col("root_span_id"), "seq": pl.col("job_id")}
    admission = jobs.select(
        **common,
        time_ns=_ns("authorize_end"),
        severity_number=pl.when(rejected).then(SEVERITY_WARN).otherwise(SEVERITY_INFO),
        severity_text=pl.when(rejected).then(pl.lit("WARN")).otherwise(pl.lit("INFO")),
        event_name=pl.when(rejected).then(pl.lit(Event.JOB_REJECTED.value)).otherwise(pl.lit(Event.JOB_ADMITTED.value)),
        body=pl.when(rejected).then(pl.lit("job rejected: ") + pl.col("detail")).otherwise(pl.lit("job admitted")),
        group=pl.lit(ADMISSION_GROUP),
        order=pl.lit(0),
        **{Attr.PROVENANCE_ID.value: pl.col("provenance_id"), Attr.TENANT.value: pl.col("tenant")},
        **{Attr.OUTCOME.value: pl.when(rejected).then(pl.col("outcome")),
           Attr.REASON.value: pl.when(rejected).then(pl.col("reason"))},
    )
    ok = pl.col("outcome") == Outcome.SUCCEEDED.value
    detail = pl.when(pl.col("detail").fill_null("") != "").then(pl.lit(": ") + pl.col("detail")).otherwise(pl.lit(""))
    finished = jobs.filter(pl.col("finished_at").is_not_null(), ~rejected).select(
        **common,
        time_ns=_ns("finished_at"),
        severity_number=pl.when(ok).then(SEVERITY_INFO).otherwise(SEVERITY_WARN),
        severity_text=pl.when(ok).then(pl.lit("INFO")).otherwise(pl.lit("WARN")),
        event_name=pl.lit(Event.JOB_FINISHED.value),
        body=pl.lit("job ") + pl.col("outcome") + detail,
        group=pl.lit(FINISHED_GROUP),
        order=pl.lit(1),
        **{attr.value: pl.col(ROOT_COLUMNS[attr]) for attr in FINISHED_ATTRIBUTES},
    )
    return pl.concat([admission, finished], how="diagonal_relaxed")


def _calibration_logs(calibrations: pl.LazyFrame) -> pl.LazyFrame:
    verdict = pl.when("passed").then(pl.lit("passed")).otherwise(pl.lit("failed: ") + pl.col("reason"))
    return calibrations.select(
        "trace_id",
        span_id=span_id(pl.col("trace_id"), pl.lit(ROOT_ORDER)),
        seq=pl.col("seq").cast(pl.Int64),
        time_ns=_ns("ended_at"),
        severity_number=pl.when("passed").then(SEVERITY_INFO).otherwise(SEVERITY_WARN),
        severity_text=pl.when("passed").then(pl.lit("INFO")).otherwise(pl.lit("WARN")),
        event_name=pl.lit(Event.CALIBRATION_FINISHED.value),
        body=pl.lit("calibration of ") + pl.col("backend") + pl.lit(" ") + verdict,
        group=pl.lit(CALIBRATION_GROUP),
        order=pl.lit(2),
        **{attr.value: pl.col(column) for attr, column in CALIBRATION_COLUMNS.items()},
    )


def _status_logs(statuses: pl.LazyFrame) -> pl.LazyFrame:
    up = pl.col("up")
    return statuses.select(
        "trace_id",
        span_id=span_id(pl.col("trace_id"), pl.lit(ROOT_ORDER)),
        seq=pl.col("seq").cast(pl.Int64),
        time_ns=_ns("at"),
        severity_number=pl.when(up).then(SEVERITY_INFO).otherwise(SEVERITY_WARN),
        severity_text=pl.when(up).then(pl.lit("INFO")).otherwise(pl.lit("WARN")),
        event_name=pl.lit(Event.BACKEND_STATUS.value),
        body=pl.col("backend") + pl.when(up).then(pl.lit(" is back up")).otherwise(pl.lit(" went down")),
        group=pl.lit(STATUS_GROUP),
        order=pl.lit(3),
        **{Attr.BACKEND.value: pl.col("backend"), Attr.BACKEND_UP.value: up},
    )


def span_rows(jobs: pl.LazyFrame, calibrations: pl.LazyFrame) -> pl.LazyFrame:
    """The spans of these jobs and calibration runs (``calibration_rows``), unordered: a replay takes them a
    stretch of time at a time."""
    jobs = _jobs(jobs)
    return pl.concat([_stage_spans(jobs), _root_spans(jobs), _calibration_spans(calibrations)], how="diagonal_relaxed")


def log_rows(jobs: pl.LazyFrame, calibrations: pl.LazyFrame, statuses: pl.LazyFrame) -> pl.LazyFrame:
    """The log records of these jobs, calibration runs and backend status changes (``status_rows``)."""
    return pl.concat([_job_logs(_jobs(jobs)), _calibration_logs(calibrations), _status_logs(statuses)],
                     how="diagonal_relaxed")


def _stored(rows: pl.LazyFrame, *order: str) -> pl.DataFrame:
    return (
        rows.with_columns(service_name=pl.lit(SERVICE_NAME), ingest_tenant=pl.lit(None, dtype=pl.String))
        .sort(*order)
        .collect()
    )


def span_records(run: EmulationRun) -> pl.DataFrame:
    calibrations = calibration_rows(run.calibrations, run.scenario.name, run.seed)
    return _stored(span_rows(run.jobs.lazy(), calibrations), "end_ns", "order", "seq")


def log_records(run: EmulationRun) -> pl.DataFrame:
    calibrations = calibration_rows(run.calibrations, run.scenario.name, run.seed)
    statuses = status_rows(run.backend_status, run.scenario.name, run.seed)
    return _stored(log_rows(run.jobs.lazy(), calibrations, statuses), "time_ns", "order", "seq")
