"""Signals from the platform's own records rather than from its jobs: calibration runs that fail or take a
backend out of rotation, and backends that report themselves down, whether or not a job was there to fail."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from contract.alert_catalogue import (
    BACKEND_DOWN,
    BACKEND_OUT_OF_ROTATION,
    CALIBRATION,
    CALIBRATION_FAILING,
)
from contract.durations import parse_duration
from contract.semconv import CalibrationVerdict
from contract.tables import UTC_US
from slo.signals import chains, in_signal_schema, raised

CALIBRATION_REPEAT = timedelta(seconds=CALIBRATION.within_seconds)


def calibration_signals(calibrations: pl.LazyFrame) -> pl.LazyFrame:
    """Repeated calibration failures (the second within 6 h pages) and backends taken out of rotation."""
    failed = chains(
        calibrations.filter(pl.col("verdict") == CalibrationVerdict.FAIL.value), "backend", "ended_at", CALIBRATION_REPEAT
    )
    failing = (
        failed.group_by("backend", "chain")
        .agg(
            start=pl.col("started_at").min(),
            detected_at=pl.col("ended_at").sort().get(CALIBRATION.failures - 1, null_on_oob=True),
            last_fail=pl.col("ended_at").max(), failures=pl.len(), first_job=pl.col("calibration_trace_id").first(),
            reason=pl.col("reason").first(),
        )
        .filter(pl.col("failures") >= CALIBRATION.failures)
    )
    passed = calibrations.filter(pl.col("verdict") == CalibrationVerdict.PASS.value).select(
        "backend", recovered=pl.col("ended_at")
    ).sort("recovered")
    failing = failing.sort("last_fail").join_asof(
        passed, left_on="last_fail", right_on="recovered", by="backend", strategy="forward", check_sortedness=False
    )
    out = chains(calibrations.filter(~pl.col("in_rotation")), "backend", "ended_at", CALIBRATION_REPEAT)
    back = calibrations.filter(pl.col("in_rotation")).select("backend", back_at=pl.col("ended_at")).sort("back_at")
    rotation = (
        out.group_by("backend", "chain")
        .agg(start=pl.col("ended_at").min(), last_out=pl.col("ended_at").max(), runs=pl.len(),
             first_job=pl.col("calibration_trace_id").first())
        .sort("last_out")
        .join_asof(back, left_on="last_out", right_on="back_at", by="backend", strategy="forward", check_sortedness=False)
    )
    return pl.concat([
        in_signal_schema(failing.select(
            signal=pl.lit("calibration_failing"), **raised(CALIBRATION_FAILING),
            backends=pl.concat_list("backend"), start="start", detected_at="detected_at",
            end=pl.coalesce("recovered", "last_fail"), first_job="first_job",
            evidence=pl.format("{} failed calibration runs on {}, the first: {}", "failures", "backend", "reason"),
        )),
        in_signal_schema(rotation.select(
            signal=pl.lit("out_of_rotation"), **raised(BACKEND_OUT_OF_ROTATION),
            backends=pl.concat_list("backend"), start="start", detected_at="start",
            end=pl.coalesce("back_at", "last_out"), first_job="first_job",
            evidence=pl.format("{} taken out of rotation after {} calibration run(s) out of spec", "backend", "runs"),
        )),
    ])


def outage_signals(status: pl.LazyFrame | None, as_of: datetime) -> pl.LazyFrame:
    """A backend reported down until it reported up again (still down at ``as_of``: until then), whether or
    not a job was running there to fail; raised, as the real-time alert is, once it has been down for the
    alert's hold, so a shorter blip raises nothing. A backend back up and down again at one instant is two
    outages."""
    if status is None:
        return in_signal_schema(pl.LazyFrame(schema={"signal": pl.String}))
    hold = timedelta(seconds=parse_duration(BACKEND_DOWN.hold))
    ordered = status.filter(pl.col("at") <= as_of).sort("backend", "at", "up", descending=[False, False, True])
    changes = ordered.with_columns(
        run=(pl.col("up") != pl.col("up").shift(1).over("backend")).fill_null(True).cum_sum().over("backend"))
    runs = changes.group_by("backend", "run").agg(up=pl.col("up").first(), since=pl.col("at").min())
    down = (
        runs.join(runs.select("backend", run=pl.col("run") - 1, back=pl.col("since")), on=["backend", "run"], how="left")
        .filter(~pl.col("up"))
        .with_columns(end=pl.coalesce("back", pl.lit(as_of).cast(UTC_US)))
        .filter(pl.col("end") - pl.col("since") >= hold)
    )
    return in_signal_schema(down.select(
        signal=pl.lit("backend_down"), **raised(BACKEND_DOWN),
        backends=pl.concat_list("backend"), start="since", detected_at=pl.col("since") + hold, end="end",
        evidence=pl.format("{} reported down for {} min{}", "backend",
                           ((pl.col("end") - pl.col("since")).dt.total_seconds() / 60).round(0).cast(pl.Int64),
                           pl.when(pl.col("back").is_null()).then(pl.lit(", and still is")).otherwise(pl.lit(""))),
    ))
