"""Injected faults (an emulator's ground truth) matched to the incidents the analytical path found: which
incident found each fault, and how long after it began."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from contract.tables import UTC_US


def score(found: pl.DataFrame, faults: list[dict]) -> pl.DataFrame:
    """Each injected fault (an emulator ground-truth entry) against the incidents that overlap it in scope."""
    truth = pl.DataFrame(
        [{"fault": f["id"], "kind": f["kind"], "fault_start": datetime.fromisoformat(f["start"]),
          "fault_end": datetime.fromisoformat(f["end"]), "backend": f.get("backend"),
          "victims": sorted(f.get("victims", [])), "antagonist": f.get("antagonist") or f.get("tenant")}
         for f in faults],
        schema={"fault": pl.String, "kind": pl.String, "fault_start": UTC_US, "fault_end": UTC_US,
                "backend": pl.String, "victims": pl.List(pl.String), "antagonist": pl.String},
    )
    shared = (
        pl.col("backends").list.contains(pl.col("backend")).fill_null(False)
        | (pl.col("tenants").list.set_intersection("victims").list.len() > 0)
    )
    matched = (
        truth.lazy().with_row_index("row")
        .join(found.lazy().select("incident", "start", "detected_at", "resolved_at", "backends", "tenants"), how="cross")
        .filter(pl.col("start") <= pl.col("fault_end"), pl.col("resolved_at") >= pl.col("fault_start"), shared)
        .group_by("row")
        .agg(incidents=pl.col("incident").sort(), detected_at=pl.col("detected_at").min())
    )
    return (
        truth.lazy().with_row_index("row").join(matched, on="row", how="left").sort("row").drop("row")
        .with_columns(
            pl.col("incidents").fill_null([]),
            minutes_to_detect=(pl.col("detected_at") - pl.col("fault_start")).dt.total_seconds() / 60,
        )
        .collect()
    )
