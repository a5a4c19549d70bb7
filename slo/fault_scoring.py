"""Injected faults (an emulator's ground truth) scored strictly against the signals the analytical path raised.

A fault counts as found only by a signal of its own kind (``FOUND_BY``), in its place (its backend, its
tenant; for a noisy neighbour, its antagonist named as the suspect on a backend of its control group), raised
at or after the fault began and about an impact that began before the fault ended. Its time to detect is
that signal's. An incident none of whose signals finds a fault is a false positive, charged to the kind of
fault its first signal would have found. Overlapping in time is never enough.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from contract.ground_truth import FAULT_IDS
from contract.tables import UTC_US

BURN = "slo_burn"

FOUND_BY: dict[str, tuple[str, ...]] = {
    "calibration_drift": ("drift", "calibration_failing", "out_of_rotation"),
    "scheduler_starvation": ("starvation", f"{BURN}:M2"),
    "telemetry_loss": (f"{BURN}:M5",),
    "noisy_neighbour": ("noisy_neighbour",),
    "billing_discrepancy": ("billing_delta", f"{BURN}:M6"),
    "preprocess_timeout": (f"{BURN}:M1",),
    "backend_outage": ("backend_down",),
}
"""The signals that find each kind of fault: what an SRE paged by them would go and look at."""

KIND_OF_SIGNAL = {signal: kind for kind, signals in FOUND_BY.items() for signal in signals}
OTHER = "other"

_FAULT_SCHEMA = {
    "fault": pl.String, "kind": pl.String, "fault_start": UTC_US, "fault_end": UTC_US, "backend": pl.String,
    "tenant": pl.String, "antagonist": pl.String, "control_group": pl.String,
}


def _faults(faults: list[dict]) -> pl.LazyFrame:
    return pl.DataFrame(
        [{"fault": f["id"], "kind": f["kind"], "fault_start": datetime.fromisoformat(f["start"]),
          "fault_end": datetime.fromisoformat(f["end"]), "backend": f.get("backend"), "tenant": f.get("tenant"),
          "antagonist": f.get("antagonist"), "control_group": f.get("control_group")} for f in faults],
        schema=_FAULT_SCHEMA,
    ).lazy()


def signal_kind() -> pl.Expr:
    """``slo_burn:<SLI>`` for a burn signal, the signal's own name for a detector's."""
    return pl.when(pl.col("signal") == BURN).then(pl.format("{}:{}", "signal", pl.col("sli").fill_null("?"))) \
        .otherwise(pl.col("signal"))


def _in_place() -> pl.Expr:
    """The signal concerns the fault's place: backend and tenant where the fault names them; for a noisy
    neighbour, the antagonist as suspect on a backend of the fault's control group."""
    on_backend = pl.col("backend").is_null() | pl.col("backends").list.contains(pl.col("backend")).fill_null(False)
    on_tenant = pl.col("tenant").is_null() | pl.col("tenants").list.contains(pl.col("tenant")).fill_null(False)
    neighbour = (
        (pl.col("suspect") == pl.col("antagonist")).fill_null(False)
        & (pl.col("backends").list.set_intersection("group_backends").list.len() > 0).fill_null(False)
    )
    return pl.when(pl.col("kind") == "noisy_neighbour").then(neighbour).otherwise(on_backend & on_tenant)


def control_groups(jobs: pl.LazyFrame) -> dict[str, str]:
    """Each backend's control group, as the jobs table records it."""
    found = jobs.select("backend", "control_group").drop_nulls().unique().sort("backend").collect()
    return dict(found.iter_rows())


def during(faults: list[dict], start: datetime, end: datetime) -> list[dict]:
    """The faults whose window overlaps [start, end]."""
    return [f for f in faults if datetime.fromisoformat(f["start"]) <= end and datetime.fromisoformat(f["end"]) >= start]


def matches(signals: pl.DataFrame, faults: list[dict], control_groups: dict[str, str]) -> pl.LazyFrame:
    """Every (fault, signal) pair in which the signal finds the fault."""
    groups = pl.DataFrame({"backend": list(control_groups), "control_group": list(control_groups.values())},
                          schema={"backend": pl.String, "control_group": pl.String})
    members = groups.lazy().group_by("control_group").agg(group_backends=pl.col("backend").sort())
    kinds = pl.DataFrame({"kind": list(KIND_OF_SIGNAL.values()), "signal_kind": list(KIND_OF_SIGNAL)}).lazy()
    return (
        _faults(faults).join(members, on="control_group", how="left")
        .join(kinds, on="kind")
        .join(signals.lazy().with_columns(signal_kind=signal_kind()), on="signal_kind")
        .filter(pl.col("detected_at") >= pl.col("fault_start"), pl.col("start") <= pl.col("fault_end"), _in_place())
    )


def score(signals: pl.DataFrame, faults: list[dict], control_groups: dict[str, str]) -> pl.DataFrame:
    """One row per injected fault: whether it was found, by which alert and incident, and how soon."""
    found = (
        matches(signals, faults, control_groups)
        .sort("detected_at", "incident")
        .group_by("fault")
        .agg(detected_at=pl.col("detected_at").first(), found_by=pl.col("alert").first(),
             incidents=pl.col("incident").unique().sort())
    )
    return (
        _faults(faults).with_row_index("row").join(found, on="fault", how="left").sort("row").drop("row")
        .with_columns(
            found=pl.col("detected_at").is_not_null(),
            incidents=pl.col("incidents").fill_null([]),
            minutes_to_detect=(pl.col("detected_at") - pl.col("fault_start")).dt.total_seconds() / 60,
        )
        .collect()
    )


def false_positives(signals: pl.DataFrame, faults: list[dict], control_groups: dict[str, str]) -> pl.DataFrame:
    """Incidents none of whose signals finds a fault, each charged to the kind its first signal would find."""
    matched = matches(signals, faults, control_groups).select("incident").unique()
    return (
        signals.lazy().join(matched, on="incident", how="anti")
        .sort("start", "detected_at", "alert")
        .group_by("incident", maintain_order=True)
        .agg(start=pl.col("start").first(), detected_at=pl.col("detected_at").min(), alerts=pl.col("alert").unique().sort(),
             kind=signal_kind().first().replace_strict(KIND_OF_SIGNAL, default=OTHER))
        .sort("start", "incident")
        .collect()
    )


def summary(scored: pl.DataFrame, spurious: pl.DataFrame) -> pl.DataFrame:
    """Per kind of fault: how many were injected, found and missed, the false positives charged to it, and the
    minutes to detect (median and worst)."""
    order = {kind: i for i, kind in enumerate([*FAULT_IDS, OTHER])}
    faults = scored.lazy().group_by("kind").agg(
        faults=pl.len(), found=pl.col("found").sum(), median_minutes=pl.col("minutes_to_detect").median(),
        worst_minutes=pl.col("minutes_to_detect").max())
    fps = spurious.lazy().group_by("kind").agg(false_positives=pl.len())
    return (
        pl.LazyFrame({"kind": list(order)})
        .join(faults, on="kind", how="left", maintain_order="left")
        .join(fps, on="kind", how="left", maintain_order="left")
        .with_columns(pl.col("faults", "found", "false_positives").fill_null(0).cast(pl.Int64))
        .filter((pl.col("faults") > 0) | (pl.col("false_positives") > 0))
        .select("kind", "faults", "found", missed=pl.col("faults") - pl.col("found"), false_positives="false_positives",
                median_minutes="median_minutes", worst_minutes="worst_minutes")
        .collect()
    )
