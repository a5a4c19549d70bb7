"""``qtenancy slo``: validate specs, and report SLIs, budgets, burn rates and the analyses over the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from qtenancy.console import console, fail, frame_table, instant
from qtenancy.options import DataDirOption, FormatOption, ReportFormat, SpecOption
from qtenancy.reading import quotas_from, store_tables, viewer_of
from qtenancy.reading import specs as load_specs

app = typer.Typer(help="SLOs over the correlated jobs table: SLIs, budgets, burn rates.", no_args_is_help=True)


@app.command("validate")
def validate(specs: Annotated[list[Path], typer.Argument(help="spec files or directories")]) -> None:
    """Validate SLO specs (qtenancy/v1, Sloth, OpenSLO, Pyrra) and say what each becomes; exit 2 naming a bad one."""
    from alerts.generate import plan

    outcomes = plan(load_specs(specs))
    if not outcomes:
        fail(f"no SLO in {', '.join(map(str, specs))} (only objects an SLO refers to)")
    for outcome in outcomes:
        spec = outcome.spec
        console.print(f"ok  {spec.service}/{spec.name}: {outcome.describe()}, objective {spec.objective:.4%}, "
                      f"window {spec.window.label}  ({spec.source})", highlight=False)


@app.command("report")
def report(
    data_dir: DataDirOption = None,
    spec: SpecOption = [],  # noqa: B006
    tenant: Annotated[str | None, typer.Option(help="the report as this tenant sees it (its SLOs, platform SLOs "
                                                   "at the platform's value, nothing of other tenants)")] = None,
    window: Annotated[str | None, typer.Option(help="override every spec's window, e.g. 7d or 30d")] = None,
    at: Annotated[str | None, typer.Option(help="evaluate at this ISO instant (default: the end of the data)")] = None,
    output: FormatOption = ReportFormat.TABLE,
    quotas: Annotated[
        Path | None, typer.Option(help="tenant quotas for fairness: a scenario file, or a YAML mapping tenant: share")
    ] = None,
) -> None:
    """SLIs, error budgets, burn rates and forecasts; fairness, billing, reproducibility, drift and noisy neighbours."""
    from emulator.scenario import ScenarioError
    from slo.analysis import slo_results
    from slo.report import (
        HEADER,
        data_end,
        markdown_sections,
        rows_for_display,
        to_json_with,
        to_markdown,
    )
    from slo.specs import parse_window
    from slo.tenant_scope import report_for

    loaded = load_specs(spec)
    tables = store_tables(data_dir, "slo_report", tenant)
    viewer = viewer_of(tables, tenant)
    try:
        as_of = instant(at, "--at") if at else data_end(tables)
        chosen = parse_window(window) if window else None
        shares_of = quotas_from(quotas)
    except (ValueError, OSError, ScenarioError) as exc:
        fail(str(exc))
    results, analyses = report_for(*slo_results(loaded, tables, shares_of, as_of, chosen), tables.jobs, viewer)
    if output is ReportFormat.JSON:
        console.out(to_json_with(results, analyses, as_of), end="", highlight=False)
    elif output is ReportFormat.MARKDOWN:
        console.out(to_markdown(results, as_of) + markdown_sections(analyses), end="", highlight=False)
    else:
        table = Table(title=f"SLOs as of {as_of:%Y-%m-%d %H:%M} UTC")
        for column in HEADER:
            table.add_column(column, justify="left" if column in ("SLO", "group", "state") else "right")
        for row in rows_for_display(results):
            table.add_row(*row)
        console.print(table)
        for name, frame in analyses.sections().items():
            title = name.replace("_", " ")
            if name == "fairness" and analyses.jain is not None:
                title += f" (Jain's index {analyses.jain:.3f})"
            console.print(frame_table(title, frame))
