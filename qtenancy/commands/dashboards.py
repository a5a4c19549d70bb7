"""``qtenancy dashboards generate``: the Grafana dashboards as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qtenancy.console import console, fail, os_reason

app = typer.Typer(help="Grafana dashboards (executive, on-call, debug) in Grafana's current JSON model.", no_args_is_help=True)


@app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for the dashboards' JSON files")],
) -> None:
    """Write the executive, on-call and debug dashboards as Grafana JSON."""
    from dashboards.generate import write_all

    try:
        written = write_all(out)
    except OSError as exc:
        fail(f"cannot write the dashboards under {out} (it must be a directory): {os_reason(exc)}")
    for path in written:
        console.print(f"  {path}", highlight=False)
