"""``qtenancy incidents list``: incidents found in the jobs table, scored against ground truth if given."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer

from qtenancy.console import console, instant
from qtenancy.options import (
    DataDirOption,
    FormatOption,
    FromOption,
    GroundTruthOption,
    PeriodOption,
    ReportFormat,
    SpecOption,
    ToOption,
    WindowsOption,
)
from qtenancy.reading import burn_windows, store_tables, viewer_of
from qtenancy.reading import ground_truth as read_ground_truth
from qtenancy.reading import specs as load_specs

app = typer.Typer(help="Incidents found in the jobs table: burn-rate episodes and detector findings.",
                  no_args_is_help=True)


@app.command("list")
def list_incidents(
    data_dir: DataDirOption = None,
    spec: SpecOption = [],  # noqa: B006
    start: FromOption = None,
    end: ToOption = None,
    backend: Annotated[str | None, typer.Option(help="only incidents on this backend")] = None,
    tenant: Annotated[str | None, typer.Option(help="the incidents that hurt this tenant, as it sees them")] = None,
    alert: Annotated[str | None, typer.Option(help="only incidents in which this alert fired")] = None,
    ground_truth: GroundTruthOption = None,
    period: PeriodOption = "30d",
    windows: WindowsOption = None,
    output: FormatOption = ReportFormat.TABLE,
) -> None:
    """List incidents with their scope, alerts, time to detect and time to resolve (M10)."""
    from qtenancy.incidents_view import incidents_table
    from slo.analysis import detect
    from slo.fault_scoring import score
    from slo.report import data_end, markdown_table
    from slo.tenant_scope import incident_list

    specs, faults = load_specs(spec), read_ground_truth(ground_truth)
    chosen = burn_windows(period, windows)
    tables = store_tables(data_dir, "incidents_list", tenant)
    viewer = viewer_of(tables, tenant)
    as_of = instant(end, "--to") if end else data_end(tables)
    begin = instant(start, "--from") if start else as_of - timedelta(days=30)
    found = incident_list(detect(specs, tables, as_of, windows=chosen).signals, tables.jobs, begin, as_of, viewer,
                          backend, alert)
    scored = score(found, faults) if faults is not None and viewer.is_operator else None
    if output is ReportFormat.JSON:
        body = {"from": begin.isoformat(), "to": as_of.isoformat(), "incidents": json.loads(found.write_json())}
        if scored is not None:
            body["faults"] = json.loads(scored.write_json())
        console.out(json.dumps(body, indent=2, sort_keys=True) + "\n", end="", highlight=False)
        return
    shown = found.select("incident", "severity", "start", "detected_at", "resolved_at", "minutes_to_detect",
                         "minutes_to_resolve", "alerts", "backends", "tenants", "suspects")
    if output is ReportFormat.MARKDOWN:
        lines = [f"# Incidents from {begin:%Y-%m-%d %H:%M} to {as_of:%Y-%m-%d %H:%M} UTC", "", *markdown_table(shown)]
        if scored is not None:
            lines += ["", "## Injected faults", "", *markdown_table(scored)]
        console.out("\n".join(lines) + "\n", end="", highlight=False)
        return
    console.print(incidents_table(f"incidents from {begin:%Y-%m-%d %H:%M} to {as_of:%Y-%m-%d %H:%M} UTC", found, scored))
