"""``qtenancy stack``: the stack without Docker (collector, Prometheus, Alertmanager, real-time emulator)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from contract.alert_catalogue import RUNBOOK_BASE
from qtenancy.console import console, fail
from qtenancy.options import DaysOption, SpecOption
from qtenancy.reading import specs as load_specs

app = typer.Typer(help="The stack without Docker: collector, Prometheus, Alertmanager, real-time emulator.",
                  no_args_is_help=True)
StackDir = Annotated[Path, typer.Option("--dir", help="where the stack keeps its configuration, data and logs")]


@app.command("up")
def up(
    directory: StackDir = Path("runs/stack"),
    scenario: Annotated[Path, typer.Option(help="scenario the emulator runs in real time")] = Path("calm-week"),
    days: DaysOption = None,
    speedup: Annotated[float, typer.Option(help="virtual seconds per wall second", min=0.001)] = 60.0,
    spec: SpecOption = [],  # noqa: B006
) -> None:
    """Start the stack on loopback and print where everything is; `qtenancy stack down` stops it.

    The emulator runs ``--speedup`` times faster than the wall clock that Prometheus evaluates in, so the
    burn-rate windows of the rules are shortened by that factor: an hour of the platform is an hour's window."""
    from alerts.alertmanager import Receivers
    from alerts.generate import write_alerting
    from contract.alert_catalogue import default_burn_windows
    from emulator.shipped import scenario_path
    from qtenancy.stack import StackError, evaluation_interval
    from qtenancy.stack import up as start_stack

    loaded = load_specs(spec)
    windows = default_burn_windows().scaled(1 / speedup)
    try:
        write_alerting(loaded, directory, windows, {}, RUNBOOK_BASE, Receivers())
        emulate_args = ["--scenario", str(scenario_path(scenario).resolve()), "--speedup", str(speedup),
                        "--no-openmetrics"]
        if days is not None:
            emulate_args += ["--days", str(days)]
        ports, started = start_stack(directory.resolve(), (directory / "rules").resolve(), emulate_args,
                                     evaluation_interval(windows))
    except StackError as exc:
        fail(str(exc), 1)
    table = Table(title=f"qtenancy stack in {directory}")
    for column in ("component", "pid", "address", "log"):
        table.add_column(column)
    address = {"collector": f"http://127.0.0.1:{ports.collector_http}", "alertmanager": f"http://127.0.0.1:{ports.alertmanager}",
               "prometheus": f"http://127.0.0.1:{ports.prometheus}", "emulator": f"http://127.0.0.1:{ports.metrics}/metrics"}
    for item in started:
        table.add_row(item.name, str(item.pid), address[item.name], item.log)
    console.print(table)


@app.command("down")
def down(directory: StackDir = Path("runs/stack")) -> None:
    """Stop exactly the processes `qtenancy stack up` started in this directory."""
    from qtenancy.stack import StackError
    from qtenancy.stack import down as stop_stack

    try:
        stopped = stop_stack(directory)
    except StackError as exc:
        fail(str(exc), 1)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was still running'}")
