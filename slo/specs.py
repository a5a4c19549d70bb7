"""SLO specs as the engine uses them, whatever format they came in: ``SloSpec`` and what it is made of.

Each format that can be read (qtenancy's own, Sloth's, OpenSLO's) is a loader in ``slo/spec_formats/``
that turns its documents into these; ``slo/spec_files.py`` reads files through them. A bad document is
refused with the file, the document's place in it, the path of the field and the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import numpy as np

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from contract.alert_catalogue import SLO_BURN_SUFFIX, BurnWindows, default_burn_windows
from contract.durations import parse_duration
from slo.catalogue import SliId, SliParameters

NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"


class SpecError(ValueError):
    pass


Seconds = Annotated[float, BeforeValidator(parse_duration)]


def scalar_text(value: Any) -> Any:
    """A YAML scalar as the text Sloth reads it as: its loader (``sigs.k8s.io/yaml``) turns a boolean into
    ``true``/``false``, an integer into its digits and a float into Go's ``FormatFloat(v, 'g', -1, 32)``
    (``1.0`` is ``1``, ``1e6`` is ``1e+06``); a timestamp stays as written (``common.yaml_files`` keeps it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float32(value)
    return "" if value is None else value


def _go_float32(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'g', -1, 32)``: the shortest digits that read back as the same float32,
    in exponent form when the exponent is below -4 or at least 6."""
    if not math.isfinite(value):
        return {math.inf: "+Inf", -math.inf: "-Inf"}.get(value, "NaN")
    scientific = np.format_float_scientific(np.float32(value), unique=True, trim="-", exp_digits=2)
    mantissa, exponent = scientific.split("e")
    if -4 <= int(exponent) < 6:
        return np.format_float_positional(np.float32(value), unique=True, trim="-")
    return f"{mantissa}e{exponent}"


LabelValue = Annotated[str, BeforeValidator(scalar_text)]
Labels = dict[str, LabelValue]


class Grouping(StrEnum):
    PLATFORM = "platform"
    TENANT = "tenant"
    BACKEND = "backend"
    NAMESPACE = "namespace"


@dataclass(frozen=True)
class Window:
    """Rolling (``seconds`` long, ending at the evaluation time) or calendar (the current month or week)."""

    seconds: float
    calendar: str | None = None

    @property
    def label(self) -> str:
        return self.calendar or f"{self.seconds / 86400:g}d"


def parse_window(value: Any) -> Window:
    if value in ("month", "calendar-month"):
        return Window(30 * 86400.0, "month")
    if value in ("week", "calendar-week"):
        return Window(7 * 86400.0, "week")
    return Window(parse_duration(value))


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Loose(BaseModel):
    """Sloth and OpenSLO ignore keys they do not know; so do we, to accept what they accept."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SlothAlert(Loose):
    disable: bool = False
    labels: Labels = {}
    annotations: Labels = {}


class SlothAlerting(Loose):
    name: str = ""
    labels: Labels = {}
    annotations: Labels = {}
    page_alert: SlothAlert = Field(SlothAlert(), validation_alias=AliasChoices("page_alert", "pageAlert"))
    ticket_alert: SlothAlert = Field(SlothAlert(), validation_alias=AliasChoices("ticket_alert", "ticketAlert"))


class KubernetesMetadata(Loose):
    name: str = Field(min_length=1)
    namespace: str = ""
    labels: Labels = {}
    annotations: Labels = {}


WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")
"""Sloth's template variable in a query: the range each recording rule fills in."""


def with_window(query: str, window: str) -> str:
    """A query with Sloth's ``{{.window}}`` filled in."""
    return WINDOW.sub(window, query)


@dataclass(frozen=True)
class PluginStep:
    """One plugin of a Sloth SLO's chain, its configuration read (``slo/spec_formats/sloth_plugins.py``)."""

    id: str
    priority: int
    config: BaseModel


@dataclass(frozen=True)
class PluginChain:
    """An SLO's plugins in declaration order (service first), and whether they replace Sloth's defaults."""

    steps: tuple[PluginStep, ...] = ()
    override_defaults: bool = False


@dataclass(frozen=True)
class BurnCondition:
    """An alert on the burn rate over one lookback window, as an OpenSLO burn-rate ``AlertCondition`` says."""

    name: str
    op: str
    """A PromQL comparison: ``>``, ``>=``, ``<`` or ``<=``."""
    threshold: float
    lookback_seconds: float
    for_seconds: float
    labels: dict[str, str]
    annotations: dict[str, str]
    when_no_data: bool = False
    """Also alert when the SLI has no value over the lookback window (OpenSLO's ``alertWhenNoData``)."""


@dataclass(frozen=True)
class AbsentAlert:
    """An alert when a metric the SLI reads is absent, as Pyrra writes it."""

    name: str
    selectors: tuple[str, ...]
    for_seconds: float
    severity: str


@dataclass(frozen=True)
class WindowAlerts:
    """Alerts as Pyrra writes them: one per burn-window pair (when ``burn``), each with its own severity, and
    the absent alerts."""

    name: str
    burn: bool
    severities: tuple[str, ...]
    absent: AbsentAlert | None = None


@dataclass(frozen=True)
class RuleSource:
    """What the Sloth-compatible rule generator needs: the SLI as PromQL, and how to alert on it."""

    service: str
    name: str
    objective_percent: float
    labels: dict[str, str]
    spec_version: str
    mode: str
    alerting: SlothAlerting
    error_query: str = ""
    total_query: str = ""
    error_ratio_query: str = ""
    plugins: PluginChain = PluginChain()
    kubernetes: KubernetesMetadata | None = None
    """The ``PrometheusServiceLevel`` it came from: its rules go in a ``PrometheusRule`` of the same name."""
    windows: BurnWindows | None = None
    """Its own burn windows when its format fixes them (Pyrra's); else the generation's."""
    period_seconds: float | None = None
    """Its own SLO period (an OpenSLO time window): the default burn windows of that period when it is not the
    generation's."""
    conditions: tuple[BurnCondition, ...] = ()
    """Alerts its spec states itself, instead of the page and ticket pair."""
    window_alerts: WindowAlerts | None = None
    min_events: int = 0
    """The low-traffic guard: the least events (``total_query``) a long window needs for its alert to fire."""
    group_labels: tuple[str, ...] = ()
    """The labels ``total_query`` keeps, on which the guard matches the alert's series."""

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    def burn_windows(self, chosen: BurnWindows) -> BurnWindows:
        """The windows its burn alerts use, in both paths: its own, else the chosen ones, unless its own period
        differs from theirs (then the default windows of its period)."""
        if self.windows is not None:
            return self.windows
        if self.period_seconds is not None and self.period_seconds != chosen.period_seconds:
            return default_burn_windows(self.period_seconds)
        return chosen



@dataclass(frozen=True)
class SloSpec:
    """One SLO as the engine uses it, whatever format it came in."""

    name: str
    service: str
    objective: float
    window: Window
    source: str
    sli: SliId | None = None
    group_by: Grouping = Grouping.PLATFORM
    filter: dict[str, list[str]] = field(default_factory=dict)
    parameters: SliParameters = SliParameters()
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    not_computable: str = ""
    rules: RuleSource | None = None
    min_events: int = 0
    """The low-traffic guard of its burn-rate alerts (0: none), the same in both paths."""

    @property
    def alert_name(self) -> str:
        """The burn-rate alert's name, shared by the generated rules and the incidents found analytically."""
        if self.rules is not None and self.rules.window_alerts is not None:
            return self.rules.window_alerts.name
        if self.rules is not None and self.rules.alerting.name:
            return self.rules.alerting.name
        return alert_name(self.name) + SLO_BURN_SUFFIX


def alert_name(name: str) -> str:
    """A name as a Prometheus alert name: its words capitalised and joined (``cpu-usage-breach``: CpuUsageBreach)."""
    return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", name) if part)


def catalogue_id(labels: dict[str, str], where: str) -> tuple[SliId | None, str]:
    value = labels.get("qtenancy_sli")
    if value is None:
        return None, "its events are PromQL queries; label it qtenancy_sli: M1..M8 to compute it from the jobs table"
    try:
        return SliId(value), ""
    except ValueError:
        raise SpecError(f"{where}: labels.qtenancy_sli: {value!r} is not an SLI of the catalogue") from None


def validate_document(model: type[BaseModel], document: dict, where: str):
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in exc.errors())
        raise SpecError(f"{where}: {problems}") from None
