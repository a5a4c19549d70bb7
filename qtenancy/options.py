"""Options several commands share, declared once so they read and behave the same everywhere."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"


DataDirOption = Annotated[Path | None, typer.Option("--data-dir", help="data directory (default: runs/collector)")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="collector config YAML (tokens, limits, ports)")]
SpecOption = Annotated[list[Path], typer.Option(help="spec files or directories (default: the shipped specs)")]
FromOption = Annotated[str | None, typer.Option("--from", help="window start, ISO 8601 (UTC unless it says)")]
ToOption = Annotated[str | None, typer.Option("--to", help="window end, ISO 8601 (default: the end of the data)")]
GroundTruthOption = Annotated[
    Path | None, typer.Option(help="an emulator ground_truth.json: score the incidents against what was injected")
]
FormatOption = Annotated[ReportFormat, typer.Option("--format", help="table, json or markdown")]
DaysOption = Annotated[float | None, typer.Option(help="override the scenario's length in days", min=0.001)]
PeriodOption = Annotated[str, typer.Option(help="SLO period for Sloth specs and the burn windows: 30d or 28d")]
WindowsOption = Annotated[Path | None, typer.Option(help="a Sloth AlertWindows file for other periods")]
