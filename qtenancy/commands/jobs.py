"""``qtenancy jobs explain``: one job, as the tenant who ran it asks about it."""

from __future__ import annotations

from typing import Annotated

import typer

from qtenancy.console import console, fail
from qtenancy.options import DataDirOption, ReportFormat
from qtenancy.reading import store_tables, terms, viewer_of

app = typer.Typer(help="One job: its lifecycle, placement, outcome and bill, and why.", no_args_is_help=True)


@app.command("explain")
def explain(
    provenance_id: Annotated[str, typer.Argument(help="the job's provenance ID (its trace ID)")],
    data_dir: DataDirOption = None,
    tenant: Annotated[str | None, typer.Option(help="as this tenant sees it (its own jobs only)")] = None,
    output: Annotated[ReportFormat, typer.Option("--format", help="table (text) or json")] = ReportFormat.TABLE,
) -> None:
    """Why a job failed or is not usable, where it ran and why, and what it was billed against what the meter owes."""
    import json

    from slo.explain import explain as explain_job
    from slo.explain import lines

    tables = store_tables(data_dir, "jobs_explain", tenant)
    viewer = viewer_of(tables, tenant)
    found = explain_job(tables, provenance_id, viewer, terms(data_dir))
    if found is None:
        fail(f"no job {provenance_id} for {viewer.describe()}")
    if output is ReportFormat.JSON:
        console.out(json.dumps(found.as_dict(), indent=2, sort_keys=True, default=str) + "\n", end="", highlight=False)
        return
    console.out("\n".join(lines(found)) + "\n", end="", highlight=False)
