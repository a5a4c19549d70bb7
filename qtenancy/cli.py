"""The qtenancy command line: the one place where the packages are wired together."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from emulator.run import emulate as run_emulation
from emulator.run_output import write_run
from emulator.scenario import ScenarioError, load_scenario
from emulator.summary import tenant_summary

app = typer.Typer(help="Observability and SLO analytics for multi-tenant quantum clouds.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@app.callback()
def main() -> None:
    """qtenancy: emulate, collect, and turn quantum cloud telemetry into SLOs."""


@app.command()
def emulate(
    scenario: Annotated[Path, typer.Option(help="scenario YAML file")],
    days: Annotated[float | None, typer.Option(help="override the scenario's length in days", min=0.001)] = None,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same run bit for bit")] = 1,
    out: Annotated[Path, typer.Option(help="directory for jobs.parquet, calibrations.parquet, ground_truth.json")] = Path(
        "runs/latest"
    ),
) -> None:
    """Run the multi-tenant quantum cloud emulator over a scenario and print a per-tenant summary."""
    try:
        spec = load_scenario(scenario).with_days(days)
    except ScenarioError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    with Progress(
        TextColumn("[bold]emulating[/bold] {task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{spec.name}, {spec.days:g} days", total=1.0)
        run = run_emulation(spec, seed, lambda fraction: progress.update(task, completed=fraction))
    paths = write_run(run, out)
    console.print(_summary_table(run))
    console.print(
        f"{run.jobs.height} jobs, {run.calibrations.height} calibration runs; "
        f"simulated in {run.simulation_seconds:.1f}s, results in {run.results_seconds:.1f}s; "
        f"Aer distribution cache hit rate {run.cache_hit_rate:.1%}"
    )
    for name, path in paths.items():
        console.print(f"  {name}: {path}")


def _summary_table(run) -> Table:
    summary = tenant_summary(run.jobs, run.scenario)
    table = Table(title=f"{run.scenario.name}: {run.scenario.days:g} days, seed {run.seed}")
    for column, justify in (
        ("tenant", "left"),
        ("jobs", "right"),
        ("success", "right"),
        ("rejected", "right"),
        ("median queue wait", "right"),
        ("backend time share", "right"),
        ("quota", "right"),
    ):
        table.add_column(column, justify=justify)
    for row in summary.iter_rows(named=True):
        wait = row["median_queue_wait_seconds"]
        table.add_row(
            row["tenant"],
            f"{row['jobs']:,}",
            "-" if row["success_rate"] is None else f"{row['success_rate']:.1%}",
            f"{row['rejected']:,}",
            "-" if wait is None else f"{wait:.1f}s",
            f"{row['backend_share']:.1%}",
            f"{row['quota_share']:.0%}",
        )
    return table
