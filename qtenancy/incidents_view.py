"""Incidents as a table a person reads at 3 a.m.: one line each, the first alert by name and how many more."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from rich.table import Table

from common.readable import minutes
from qtenancy.console import frame_table
from slo.report import markdown_table

if TYPE_CHECKING:
    from qtenancy.rehearsal import Verdict


def incidents_table(title: str, found: pl.DataFrame, scored: pl.DataFrame | None) -> Table:
    """One line per incident; with ground truth, the injected faults each one found, and the missed ones."""
    table = Table(title=title)
    columns = ["incident", "severity", "began", "time to detect", "time to resolve", "scope", "alerts"]
    if scored is not None:
        faults = scored.explode("incidents").group_by("incidents").agg(pl.col("fault").sort())
        found = found.join(faults, left_on="incident", right_on="incidents", how="left", maintain_order="left")
        columns.append("injected fault")
    for column in columns:
        table.add_column(column, justify="right" if column.startswith("time") else "left",
                         no_wrap=column in ("incident", "began"), overflow="fold")
    for row in found.iter_rows(named=True):
        cells = [row["incident"], row["severity"], f"{row['start']:%a %d %H:%M}", minutes(row["minutes_to_detect"]),
                 minutes(row["minutes_to_resolve"]), ", ".join(row["backends"] or row["tenants"]),
                 row["alerts"][0] + (f" +{len(row['alerts']) - 1}" if len(row["alerts"]) > 1 else "")]
        if scored is not None:
            cells.append(", ".join(row["fault"] or ["(none)"]))
        table.add_row(*cells)
    if scored is not None:
        for row in scored.filter(pl.col("incidents").list.len() == 0).iter_rows(named=True):
            table.add_row("(missed)", "", f"{row['fault_start']:%a %d %H:%M}", "", "", row["backend"] or row["tenant"] or "",
                          "", row["fault"])
    return table


def _rehearsal_frames(verdict: Verdict) -> dict[str, pl.DataFrame]:
    runs = pl.DataFrame([{"scenario": r.scenario, "seed": r.seed, "faults": r.faults.height,
                          "found": int(r.faults["found"].sum()), "false positives": r.false_positives.height,
                          "incidents": r.incidents} for r in verdict.runs])
    faults = pl.concat([r.faults for r in verdict.runs], how="vertical_relaxed")
    missed = faults.filter(~pl.col("found")).select("scenario", "seed", "fault", "kind", "fault_start", "backend",
                                                       "tenant", "antagonist")
    spurious = pl.concat([r.false_positives for r in verdict.runs], how="vertical_relaxed").select(
        "scenario", "seed", "incident", "kind", "start", "alerts")
    readable = {"median_minutes": "median time to detect", "worst_minutes": "worst time to detect"}
    by_kind = verdict.by_kind.with_columns(
        pl.col(column).map_elements(minutes, return_dtype=pl.String, skip_nulls=False).alias(name)
        for column, name in readable.items()
    ).drop(*readable).rename({"false_positives": "false positives"})
    return {"per run": runs, "per kind of fault": by_kind, "faults missed": missed, "false positives": spurious}


def _totals(verdict: Verdict) -> str:
    def ratio(part: int, whole: int, value: float | None) -> str:
        return f"{part:,}/{whole:,} = {value:.2f}" if value is not None else "no data"

    return (f"precision {ratio(verdict.matched, verdict.incidents, verdict.precision)} (incidents that found a fault); "
            f"recall {ratio(verdict.found, verdict.faults, verdict.recall)} (faults found)")


def rehearsal_tables(verdict: Verdict) -> list[Table | str]:
    """The rehearsal as tables a person reads: per run, per kind of fault, what was missed and what was not real."""
    return [*(frame_table(title, frame) for title, frame in _rehearsal_frames(verdict).items() if not frame.is_empty()),
            _totals(verdict)]


def rehearsal_markdown(verdict: Verdict) -> str:
    lines = ["# Game-day rehearsal, scored strictly", ""]
    for title, frame in _rehearsal_frames(verdict).items():
        lines += [f"## {title.capitalize()}", "", *markdown_table(frame), ""]
    return "\n".join([*lines, _totals(verdict), ""])
