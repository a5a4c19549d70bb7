"""``qtenancy incidents list``: incidents found in the jobs table, scored against ground truth if given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from qtenancy.console import console, errors, fail, instant
from qtenancy.options import (
    DataDirOption,
    DaysOption,
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
    import polars as pl

    from qtenancy.incidents_view import incidents_table
    from slo.analysis import DEFAULT_PERIOD, detect
    from slo.fault_scoring import control_groups, during, score
    from slo.report import data_end, markdown_table
    from slo.tenant_scope import incident_list

    specs, faults = load_specs(spec), read_ground_truth(ground_truth)
    chosen = burn_windows(period, windows)
    tables = store_tables(data_dir, "incidents_list", tenant)
    viewer = viewer_of(tables, tenant)
    as_of = instant(end, "--to") if end else data_end(tables)
    begin = instant(start, "--from") if start else as_of - DEFAULT_PERIOD
    signals = detect(specs, tables, as_of, windows=chosen).signals
    found = incident_list(signals, tables.jobs, begin, as_of, viewer, backend, alert)
    scored = (score(signals.filter(pl.col("incident").is_in(found["incident"].implode())), during(faults, begin, as_of),
                    control_groups(tables.jobs)) if faults is not None and viewer.is_operator else None)
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


@app.command("score")
def score_scenarios(
    scenarios: Annotated[list[Path], typer.Argument(help="scenario files, or names of shipped ones (game-day, ...)")],
    seed: Annotated[list[int], typer.Option(help="random seed (repeatable); each scenario runs under each")] = [1, 2, 3],  # noqa: B006
    days: DaysOption = None,
    spec: SpecOption = [],  # noqa: B006
    workers: Annotated[int, typer.Option(help="runs emulated at once, each in a process of its own", min=1)] = 1,
    require_precision: Annotated[float | None, typer.Option(help="exit 1 when precision is below this", min=0, max=1)] = None,
    require_recall: Annotated[float | None, typer.Option(help="exit 1 when recall is below this", min=0, max=1)] = None,
    output: FormatOption = ReportFormat.TABLE,
) -> None:
    """Rehearse game days: emulate each scenario under each seed, find the incidents and score them strictly
    against what was injected (a fault is found only by a signal of its own kind, in its place, raised after it
    began; every incident that finds no fault is a false positive)."""
    from emulator.scenario import ScenarioError, load_scenario
    from qtenancy.rehearsal import rehearse_all

    for path in scenarios:
        try:
            load_scenario(path)
        except ScenarioError as exc:
            fail(str(exc))
    def done(run) -> None:
        errors.print(f"{run.scenario} seed {run.seed}: {int(run.faults['found'].sum())} of {run.faults.height} "
                     f"fault(s) found, {run.false_positives.height} false positive(s)", highlight=False)

    verdict = rehearse_all(scenarios, seed, days, load_specs(spec), workers, done)
    if output is ReportFormat.JSON:
        body = {"runs": [{"scenario": r.scenario, "seed": r.seed, "incidents": r.incidents,
                          "faults": json.loads(r.faults.write_json()),
                          "false_positives": json.loads(r.false_positives.write_json())} for r in verdict.runs],
                "by_kind": json.loads(verdict.by_kind.write_json()), "precision": verdict.precision,
                "recall": verdict.recall}
        console.out(json.dumps(body, indent=2, sort_keys=True, default=str) + "\n", end="", highlight=False)
    elif output is ReportFormat.MARKDOWN:
        from qtenancy.incidents_view import rehearsal_markdown

        console.out(rehearsal_markdown(verdict), end="", highlight=False)
    else:
        from qtenancy.incidents_view import rehearsal_tables

        for table in rehearsal_tables(verdict):
            console.print(table)
    if (require_precision is not None and (verdict.precision or 0.0) < require_precision) or (
            require_recall is not None and (verdict.recall or 0.0) < require_recall):
        raise typer.Exit(1)
