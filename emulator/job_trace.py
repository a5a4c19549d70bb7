"""Where each lifecycle stage of a job begins and ends, derived from the jobs table's times.

The broker emits one span per stage it went through; a job rejected at admission has no queue or
execute span, an interrupted one no post-processing. Every sink (OTLP, bulk Parquet, metrics) reads
the stages from here, so they agree on what a complete job is.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from contract.semconv import STAGES, FailureReason, RejectReason, Stage

STORE_SECONDS = 0.05
METER_SECONDS = 0.01
NOTIFY_SECONDS = 0.02
"""How long the broker's closing stages take: the simulation closes jobs with them, the spans are cut by them."""

_STORE = timedelta(seconds=STORE_SECONDS)
_METER = timedelta(seconds=METER_SECONDS)
_NOTIFY = timedelta(seconds=NOTIFY_SECONDS)


def _when(condition: pl.Expr, value: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(value)


def stage_bounds() -> dict[Stage, tuple[pl.Expr, pl.Expr]]:
    """Start and end of each stage as expressions over the jobs table; null start: the job had no such stage."""
    submitted, queued, started = pl.col("submitted_at"), pl.col("queue_start"), pl.col("execute_start")
    exec_end, post_end, finished = pl.col("execute_end"), pl.col("post_process_end"), pl.col("finished_at")
    ran = started.is_not_null()
    closed = exec_end.is_not_null() & finished.is_not_null()
    return {
        Stage.SUBMIT: (submitted, pl.coalesce(queued, finished, pl.col("authorize_end"))),
        Stage.AUTHORIZE: (submitted, pl.col("authorize_end")),
        Stage.QUEUE: (queued, _when(queued.is_not_null(), pl.coalesce(started, finished, queued))),
        Stage.SCHEDULE: (_when(ran, started), _when(ran, started)),
        Stage.CALIBRATION_CHECK: (_when(ran, started), _when(ran, started)),
        Stage.EXECUTE: (started, _when(ran, pl.coalesce(exec_end, started))),
        Stage.POST_PROCESS: (_when(post_end.is_not_null(), exec_end), post_end),
        Stage.STORE: (_when(post_end.is_not_null() & finished.is_not_null(), post_end), post_end + _STORE),
        Stage.METER: (_when(closed, finished - _NOTIFY - _METER), _when(closed, finished - _NOTIFY)),
        Stage.NOTIFY: (_when(closed, finished - _NOTIFY), _when(closed, finished)),
    }


def present_stage_mask() -> pl.Expr:
    """Bit i set when the job went through ``STAGES[i]``."""
    bounds = stage_bounds()
    return pl.sum_horizontal(
        [pl.when(bounds[s][0].is_not_null()).then(1 << i).otherwise(0) for i, s in enumerate(STAGES)]
    ).cast(pl.Int64)


FAILING_STAGE: dict[str, Stage] = {
    RejectReason.BAD_KEY: Stage.AUTHORIZE,
    RejectReason.OVER_QUOTA: Stage.AUTHORIZE,
    RejectReason.MALFORMED_CIRCUIT: Stage.AUTHORIZE,
    RejectReason.TOO_WIDE: Stage.AUTHORIZE,
    FailureReason.PREPROCESS_TIMEOUT: Stage.SUBMIT,
    FailureReason.BACKEND_DOWN: Stage.EXECUTE,
    FailureReason.RESERVATION_PREEMPTION: Stage.EXECUTE,
    FailureReason.POSTPROCESS_TIMEOUT: Stage.POST_PROCESS,
}
"""The stage whose span carries the error status, by reason code."""


def stage_spans(jobs: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (job, stage it went through): job_id, stage index, start and end in epoch nanoseconds."""
    bounds = stage_bounds()
    return pl.concat(
        [
            jobs.select(
                "job_id",
                stage=pl.lit(i, dtype=pl.Int8),
                start_ns=start.dt.epoch("ns"),
                end_ns=end.dt.epoch("ns"),
            ).filter(pl.col("start_ns").is_not_null())
            for i, (start, end) in enumerate(bounds[s] for s in STAGES)
        ]
    )
