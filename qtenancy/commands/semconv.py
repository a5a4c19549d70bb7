"""``qtenancy semconv``: the telemetry contract as Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qtenancy.console import console


def semconv(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the Markdown here instead of stdout")] = None,
) -> None:
    """Print the telemetry contract (span, attribute, log and metric names) as Markdown."""
    from contract.semconv_doc import render

    text = render()
    if out is None:
        console.out(text, end="", highlight=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
