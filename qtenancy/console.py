"""How the command line speaks: results on stdout; errors, warnings and progress on stderr.

One place for the error helper every command uses, so a failure always reads ``error: <reason>`` and exits
with its code, and for the small renderings several commands share. Nothing here imports the analysis.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
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

from common.readable import duration

if TYPE_CHECKING:
    import polars as pl

UNFOLDED = 100_000
"""Columns of a console that is not a terminal: wide enough that no table is ever folded to fit."""


def _console(stderr: bool) -> Console:
    """A console as wide as the terminal, or, writing to a file or pipe, as wide as each table needs."""
    made = Console(stderr=stderr)
    if not made.is_terminal and "COLUMNS" not in os.environ:
        made.width = UNFOLDED
    return made


console = _console(stderr=False)
errors = _console(stderr=True)


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


@dataclass
class _Step:
    description: str
    total: float | None
    started: float
    completed: float = 0.0
    done: bool = False


class StepLines:
    """Progress for a log: one plain line on stdout per finished step, with its time and figures.

    It answers the calls the demo and ``emulate`` make on a rich ``Progress`` (``add_task``, ``update``,
    ``advance``), so a command reports its steps the same way with or without a terminal.
    """

    def __init__(self, out: Console):
        self._out = out
        self._steps: list[_Step] = []

    def __enter__(self) -> StepLines:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: float | None = 100.0, **_) -> int:
        self._steps.append(_Step(description, total, time.perf_counter()))
        return len(self._steps) - 1

    def update(self, task: int, *, total: float | None = None, completed: float | None = None,
               advance: float | None = None, description: str | None = None, **_) -> None:
        step = self._steps[task]
        step.total = step.total if total is None else total
        step.completed = step.completed if completed is None else completed
        step.completed += advance or 0
        step.description = description or step.description
        if not step.done and step.total is not None and step.completed >= step.total:
            step.done = True
            elapsed = duration(time.perf_counter() - step.started)
            self._out.print(f"{step.description} ({elapsed})", highlight=False, markup=False, soft_wrap=True)
            self._out.file.flush()

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)


def progress() -> Progress | StepLines:
    """A live bar on stderr at a terminal; plain step lines on stdout when stdout is a file or a pipe."""
    if not console.is_terminal:
        return StepLines(console)
    return Progress(
        TextColumn("[bold]{task.description}[/bold]"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )


@contextlib.contextmanager
def stage(bar: Progress | StepLines, description: str) -> Iterator[int]:
    """A step without a measure of its own: shown while it runs, complete when it ends (its figures may be
    added to its description on the way)."""
    task = bar.add_task(description, total=None)
    yield task
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
