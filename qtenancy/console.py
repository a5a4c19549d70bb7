"""How the command line speaks: results on stdout; errors, warnings and progress on stderr.

One place for the error helper every command uses, so a failure always reads ``error: <reason>`` and exits
with its code, and for the small renderings several commands share. Nothing here imports the analysis.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    import polars as pl

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Say what is wrong on stderr and exit: 2 for a bad request or input, 1 for a failure of the work itself."""
    errors.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(label: str, message: str) -> None:
    errors.print(f"[yellow]{label}[/yellow] {message}", highlight=False, soft_wrap=True)


def os_reason(exc: OSError) -> str:
    """An OS error as a person reads it: the reason and the file it concerns."""
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}[/bold]"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )


@contextlib.contextmanager
def stage(bar: Progress, description: str) -> Iterator[None]:
    """A step without a measure of its own: shown while it runs, complete when it ends."""
    task = bar.add_task(description, total=None)
    yield
    bar.update(task, total=1, completed=1)


def frame_table(title: str, frame: pl.DataFrame) -> Table:
    """A data frame as a table, its cells formatted as the reports format them; ``none`` when it is empty."""
    from slo.report import format_cell

    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column)
    for row in frame.iter_rows():
        table.add_row(*(format_cell(v) for v in row))
    if frame.is_empty():
        table.add_row(*(["none"] + [""] * (len(frame.columns) - 1)))
    return table


def instant(value: str, option: str) -> datetime:
    """An ISO 8601 option value as an aware instant (UTC unless it says otherwise)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected an ISO 8601 instant such as 2026-11-03T10:00Z, got {value!r}",
                                 param_hint=option) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def name_value_pairs(pairs: list[str], option: str) -> tuple[tuple[str, str], ...]:
    """``NAME=VALUE`` option values, refused with the option's name when one is not."""
    parsed = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint=option)
        parsed.append((name.strip(), value.strip()))
    return tuple(parsed)
