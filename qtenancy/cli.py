"""The qtenancy command line: the command groups, registered on one app.

Each command lives in ``qtenancy/commands/``; this module only assembles them, so ``qtenancy --help``
loads nothing but the option declarations.
"""

from __future__ import annotations

from typing import Annotated

import typer

from qtenancy.commands import (
    alerts,
    audit,
    billing,
    collector,
    dashboards,
    incidents,
    jobs,
    slo,
    stack,
)
from qtenancy.commands.demo import demo
from qtenancy.commands.emulate import emulate
from qtenancy.commands.postmortem import postmortem
from qtenancy.commands.semconv import semconv
from qtenancy.commands.serve import serve
from qtenancy.console import console

app = typer.Typer(help="Observability and SLO analytics for multi-tenant quantum clouds.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        from qtenancy import __version__

        console.print(f"qtenancy {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """qtenancy: emulate, collect, and turn quantum cloud telemetry into SLOs."""


app.command()(emulate)
app.add_typer(collector.app, name="collector")
app.add_typer(slo.app, name="slo")
app.add_typer(alerts.app, name="alerts")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(stack.app, name="stack")
app.add_typer(audit.app, name="audit")
app.add_typer(incidents.app, name="incidents")
app.add_typer(jobs.app, name="jobs")
app.add_typer(billing.app, name="billing")
app.command()(postmortem)
app.command()(demo)
app.command()(semconv)
app.command()(serve)
