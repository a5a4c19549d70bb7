"""Sloth's ``AlertWindows`` files: burn windows for SLO periods other than the defaults (e.g. 7d)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.yaml_files import YamlFileError, load_yaml
from contract.alert_catalogue import BurnWindow, BurnWindows, Severity
from contract.durations import parse_duration


class _Window(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    error_budget_percent: float = Field(gt=0, le=100, alias="errorBudgetPercent")
    short_window: str = Field(alias="shortWindow")
    long_window: str = Field(alias="longWindow")


class _Pair(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    quick: _Window
    slow: _Window


class _WindowsSpec(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    slo_period: str = Field(alias="sloPeriod")
    page: _Pair
    ticket: _Pair


class _WindowsFile(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    api_version: str = Field(alias="apiVersion", pattern="^sloth.slok.dev/v1$")
    kind: str = Field(pattern="^AlertWindows$")
    spec: _WindowsSpec


def load_burn_windows(path: Path) -> BurnWindows:
    """A Sloth ``AlertWindows`` file (for periods other than the defaults, e.g. 7d); YamlFileError names it."""
    try:
        spec = _WindowsFile.model_validate(load_yaml(path, "alert windows")).spec
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())
        raise YamlFileError(f"{path}: invalid AlertWindows: {problems}") from None

    def burn(severity: Severity, w: _Window) -> BurnWindow:
        return BurnWindow(severity, w.error_budget_percent, parse_duration(w.short_window),
                          parse_duration(w.long_window))

    return BurnWindows(
        parse_duration(spec.slo_period),
        burn(Severity.PAGE, spec.page.quick), burn(Severity.PAGE, spec.page.slow),
        burn(Severity.TICKET, spec.ticket.quick), burn(Severity.TICKET, spec.ticket.slow),
    )
