"""Incidents as a table a person reads at 3 a.m.: one line each, the first alert by name and how many more."""

from __future__ import annotations

import polars as pl
from rich.table import Table

from common.readable import minutes


def incidents_table(title: str, found: pl.DataFrame, scored: pl.DataFrame | None) -> Table:
    """One line per incident; with ground truth, the injected faults each one found, and the missed ones."""
    table = Table(title=title)
    columns = ["incident", "severity", "began", "time to detect", "time to resolve", "scope", "alerts"]
    if scored is not None:
        faults = scored.explode("incidents").group_by("incidents").agg(pl.col("fault").sort())
        found = found.join(faults, left_on="incident", right_on="incidents", how="left")
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
            table.add_row("(missed)", "", f"{row['fault_start']:%a %d %H:%M}", "", "", row["backend"] or "",
                          "", row["fault"])
    return table
