"""``qtenancy postmortem``: a postmortem of a window or of one incident, as Markdown, HTML and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qtenancy.console import console, fail, instant
from qtenancy.options import (
    DataDirOption,
    FromOption,
    GroundTruthOption,
    SpecOption,
    ToOption,
)
from qtenancy.reading import ground_truth as read_ground_truth
from qtenancy.reading import specs as load_specs
from qtenancy.reading import store_tables, viewer_of
from qtenancy.warm import import_in_background


def postmortem(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for postmortem.md, postmortem.html and plots")],
    start: FromOption = None,
    end: ToOption = None,
    incident: Annotated[str | None, typer.Option(help="an incident ID from `qtenancy incidents list`: its window")] = None,
    backend: Annotated[str | None, typer.Option(help="only this backend")] = None,
    tenant: Annotated[str | None, typer.Option(help="as this tenant sees it: its impact, nothing of other tenants")] = None,
    alert: Annotated[str | None, typer.Option(help="only incidents in which this alert fired")] = None,
    data_dir: DataDirOption = None,
    spec: SpecOption = [],  # noqa: B006
    ground_truth: GroundTruthOption = None,
) -> None:
    """Write a postmortem of a window: timeline, impact, budget, suspects, billing, time to detect and resolve."""
    import polars as pl

    from slo.analysis import detect
    from slo.incidents import incidents as incidents_of
    from slo.postmortem import Scope
    from slo.report import data_end

    import_in_background("slo.postmortem_plots")
    specs, faults = load_specs(spec), read_ground_truth(ground_truth)
    tables = store_tables(data_dir, "postmortem", tenant)
    viewer = viewer_of(tables, tenant)
    detections = detect(specs, tables, data_end(tables))
    if incident is not None:
        chosen = incidents_of(detections.signals).filter(pl.col("incident") == incident)
        if not viewer.is_operator:
            chosen = chosen.filter(pl.col("tenants").list.contains(viewer.tenant))
        if chosen.is_empty():
            fail(f"no incident {incident} in {data_dir or 'the data directory'}; `qtenancy incidents list` shows them")
        window = chosen.row(0, named=True)
        start = start or window["start"].isoformat()
        end = end or window["resolved_at"].isoformat()
    if start is None or end is None:
        raise typer.BadParameter("give --from and --to, or --incident", param_hint="--from/--to")
    scope = Scope(instant(start, "--from"), instant(end, "--to"), backend, tenant, alert, incident)
    if scope.end < scope.start or (scope.end == scope.start and incident is None):
        raise typer.BadParameter(f"--to ({end}) must be after --from ({start})", param_hint="--to")
    from slo.postmortem_files import write_postmortem

    for path in write_postmortem(specs, tables, detections, scope, faults, out, viewer).values():
        console.print(f"  {path}", highlight=False)
