"""``qtenancy billing statement``: a tenant's bill in money, per day and per job, with the lines to dispute."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from qtenancy.console import console, fail, frame_table, instant
from qtenancy.options import DataDirOption, FromOption, ToOption
from qtenancy.reading import store_tables, terms, viewer_of

SHOWN = 20
"""Disputed lines printed in the table; the CSV and JSON carry them all."""

app = typer.Typer(help="Billing in money from the price table, reconciled with the trace.", no_args_is_help=True)


class StatementFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@app.command("statement")
def statement(
    tenant: Annotated[str, typer.Option(help="whose statement")],
    start: FromOption = None,
    end: ToOption = None,
    data_dir: DataDirOption = None,
    output: Annotated[StatementFormat, typer.Option("--format", help="table, csv (the lines) or json")] = StatementFormat.TABLE,
) -> None:
    """Per day and per job: billed and owed money, disputed lines with provenance IDs, totals that reconcile with M6."""
    import json

    import polars as pl

    from common.readable import money as money_of
    from slo.analysis import DEFAULT_PERIOD
    from slo.report import data_end
    from slo.statement import statement as statement_of

    tables = store_tables(data_dir, "billing_statement", tenant)
    viewer = viewer_of(tables, tenant)
    until = instant(end, "--to") if end else data_end(tables)
    since = instant(start, "--from") if start else until - DEFAULT_PERIOD
    if until <= since:
        fail(f"--to ({until.isoformat()}) must be after --from ({since.isoformat()})")
    found = statement_of(tables.jobs, viewer, tenant, since, until, terms(data_dir))
    if output is StatementFormat.JSON:
        console.out(json.dumps(found.as_dict(), indent=2, sort_keys=True, default=str) + "\n", end="", highlight=False)
        return
    if output is StatementFormat.CSV:
        console.out(found.lines.write_csv(), end="", highlight=False)
        return
    t = found.totals
    money = [pl.col(c).map_elements(lambda v: money_of(v, found.currency), return_dtype=pl.String)
             for c in ("billed_amount", "owed_amount", "difference")]
    console.print(frame_table(f"{tenant}: {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC, by day ({found.currency})",
                              found.days.with_columns(money)))
    disputed = found.lines.filter(found.lines["dispute"].is_not_null()).with_columns(money).select(
        "provenance_id", "outcome", "billed_amount", "owed_amount", "dispute")
    more = f", the first {SHOWN} (--format csv for every line)" if disputed.height > SHOWN else ""
    console.print(frame_table(f"disputed lines: {disputed.height:,}{more}", disputed.head(SHOWN)))
    console.print(f"total billed {t['billed_amount']:,.2f} {found.currency}, owed {t['owed_amount']:,.2f}, difference "
                  f"{t['difference']:+,.2f} over {t['lines']:,} lines; {t['disputed_lines']:,} disputed "
                  f"({t['disputed_amount']:,.2f} {found.currency}); billing accuracy (M6) "
                  f"{found.m6['good']:,}/{found.m6['events']:,}", highlight=False)
