"""``qtenancy demo``: the main job on the embedded default, end to end, and where everything went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from qtenancy.console import console, fail, progress
from qtenancy.options import DaysOption
from qtenancy.reading import specs as load_specs


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for everything the demo makes")] = Path("runs/demo"),
    scenario: Annotated[Path, typer.Option(help="scenario to emulate (a file, or a shipped name)")] = Path("game-day"),
    days: DaysOption = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 1,
) -> None:
    """The main job on the embedded default: emulate a game day, collect it over OTLP, report SLOs, generate rules
    and dashboards, find the incidents and write a postmortem for each."""
    from emulator.scenario import ScenarioError, load_scenario

    try:
        spec = load_scenario(scenario).with_days(days)
    except ScenarioError as exc:
        fail(str(exc))
    specs = load_specs([])
    from qtenancy.demo import run_demo
    from qtenancy.incidents_view import incidents_table

    with progress() as bar:
        result = run_demo(spec, seed, specs, out, bar)
    console.print(
        f"{result.jobs:,} jobs emulated; {result.spans:,} spans and {result.logs:,} log records over OTLP "
        f"({result.dropped:,} dropped by fault F3); {result.correlated:,} jobs correlated", highlight=False,
    )
    console.print(incidents_table("incidents found, each with its postmortem", result.found, result.scored))
    where = Table(title="where everything is", show_header=False)
    for name, path in result.where:
        where.add_row(name, str(path))
    console.print(where)
