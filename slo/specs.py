"""SLO specs: qtenancy's own format, Sloth's ``prometheus/v1`` (plain and Kubernetes), and OpenSLO.

Every document is validated into typed models; a bad one is refused with the file, the document's place
in it, the path of the field and the reason, and nothing from that file is used. A Sloth or OpenSLO SLO
whose events the jobs table can compute says which catalogue SLI it is with the label ``qtenancy_sli``
(OpenSLO: a ``metricSource`` of type ``qtenancy`` with ``spec.sli``); the others stay valid specs, for
the alert generator, and the report says why it cannot compute them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from qtenancy.yaml_files import YamlFileError, load_yaml_all
from slo.catalogue import SliId, SliParameters

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NAME = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"


class SpecError(ValueError):
    pass


def parse_duration(value: Any) -> float:
    """``30s``, ``5m``, ``1h30m``, ``30d`` or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not re.fullmatch(r"(\d+(\.\d+)?[smhdw])+", value.strip()):
        raise ValueError(f"{value!r} is not a duration such as 30s, 5m, 6h or 30d")
    return sum(float(n) * _UNITS[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)([smhdw])", value))


def format_duration(seconds: float) -> str:
    """Prometheus' duration format: years and weeks only when exact (so 30d, 4w, 1d, 1h30m)."""
    ms = int(round(seconds * 1000))
    if ms == 0:
        return "0s"
    out = ""
    for unit, size, exact in (("y", 365 * 86_400_000, True), ("w", 7 * 86_400_000, True), ("d", 86_400_000, False),
                              ("h", 3_600_000, False), ("m", 60_000, False), ("s", 1000, False), ("ms", 1, False)):
        if exact and ms % size:
            continue
        if ms // size:
            out += f"{ms // size}{unit}"
            ms -= (ms // size) * size
    return out


Seconds = Annotated[float, BeforeValidator(parse_duration)]


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


class NativeSlo(Strict):
    name: str = Field(pattern=NAME)
    sli: SliId
    objective: float = Field(gt=0, le=100, description="percent of good events, as in Sloth")
    window: Annotated[Window, BeforeValidator(parse_window)] = Window(30 * 86400.0)
    group_by: Grouping = Field(Grouping.PLATFORM, validation_alias=AliasChoices("group_by", "groupBy"))
    filter: dict[Literal["tenant", "namespace", "backend", "priority"], list[str]] = {}
    threshold: Seconds = Field(300.0, gt=0, description="M2: the queue-wait bound")
    latency_factor: float = Field(2.0, gt=0, description="M8: result within this many times the expected runtime")
    meter_granularity: Seconds = Field(5.0, gt=0, description="M6: the meter's sampling period")
    billing_tolerance: Seconds = Field(0.001, ge=0, description="M6: billed may differ from metered by this much")
    completeness_grace: Seconds = Field(3600.0, ge=0, description="M5: how long a job may still be running")
    reproducibility_alpha: float = Field(0.01, gt=0, lt=1, description="M3: significance of the shot-noise test")
    description: str = ""
    labels: dict[str, str] = {}


class NativeFile(Strict):
    version: Literal["qtenancy/v1"]
    slos: list[NativeSlo] = Field(min_length=1)


class Loose(BaseModel):
    """Sloth and OpenSLO ignore keys they do not know; so do we, to accept what they accept."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class SlothEvents(Loose):
    error_query: str = Field(min_length=1, validation_alias=AliasChoices("error_query", "errorQuery"))
    total_query: str = Field(min_length=1, validation_alias=AliasChoices("total_query", "totalQuery"))


class SlothRaw(Loose):
    error_ratio_query: str = Field(min_length=1, validation_alias=AliasChoices("error_ratio_query", "errorRatioQuery"))


class SlothPlugin(Loose):
    id: str = Field(min_length=1)
    options: dict[str, Any] = {}


class SlothSli(Loose):
    events: SlothEvents | None = None
    raw: SlothRaw | None = None
    plugin: SlothPlugin | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SlothSli:
        if sum(x is not None for x in (self.events, self.raw, self.plugin)) != 1:
            raise ValueError("an SLI needs exactly one of events, raw or plugin")
        return self


class SlothAlert(Loose):
    disable: bool = False
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class SlothAlerting(Loose):
    name: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    page_alert: SlothAlert = Field(SlothAlert(), validation_alias=AliasChoices("page_alert", "pageAlert"))
    ticket_alert: SlothAlert = Field(SlothAlert(), validation_alias=AliasChoices("ticket_alert", "ticketAlert"))


class SlothSlo(Loose):
    name: str = Field(pattern=NAME)
    objective: float = Field(gt=0, le=100)
    description: str = ""
    labels: dict[str, str] = {}
    sli: SlothSli
    alerting: SlothAlerting = SlothAlerting()
    plugins: dict[str, Any] = {}

    @model_validator(mode="after")
    def _alert_name(self) -> SlothSlo:
        alerting = self.alerting
        if not alerting.name and not (alerting.page_alert.disable and alerting.ticket_alert.disable):
            raise ValueError("alerting.name is required unless both the page and the ticket alert are disabled")
        return self


class SlothService(Loose):
    service: str = Field(min_length=1)
    labels: dict[str, str] = {}
    slos: list[SlothSlo] = Field(min_length=1)
    slo_plugins: dict[str, Any] = {}

    @model_validator(mode="after")
    def _unique_names(self) -> SlothService:
        names = [s.name for s in self.slos]
        if len(set(names)) != len(names):
            raise ValueError(f"SLO names must be unique within a service: {sorted(n for n in set(names) if names.count(n) > 1)}")
        return self


class SlothFile(SlothService):
    version: Literal["prometheus/v1"]


class KubernetesMetadata(Loose):
    name: str = Field(min_length=1)
    namespace: str = ""
    labels: dict[str, str] = {}


class SlothKubernetes(Loose):
    api_version: Literal["sloth.slok.dev/v1"] = Field(validation_alias="apiVersion")
    kind: Literal["PrometheusServiceLevel"]
    metadata: KubernetesMetadata
    spec: SlothService


class OpenSloQuery(Loose):
    source: str = ""
    query_type: str = Field("", validation_alias=AliasChoices("queryType", "query_type"))
    query: str = Field(min_length=1)


class OpenSloRatio(Loose):
    good: OpenSloQuery | None = None
    bad: OpenSloQuery | None = None
    total: OpenSloQuery

    @model_validator(mode="after")
    def _good_or_bad(self) -> OpenSloRatio:
        if (self.good is None) == (self.bad is None):
            raise ValueError("a ratio needs exactly one of good or bad, and total")
        return self


class OpenSloAlphaObjective(Loose):
    ratio_metrics: OpenSloRatio = Field(validation_alias=AliasChoices("ratioMetrics", "ratio_metrics"))
    target: float = Field(gt=0, lt=1)


class OpenSloAlphaTimeWindow(Loose):
    count: int = Field(gt=0)
    unit: Literal["Day", "Week", "Month"]
    is_rolling: bool = Field(True, validation_alias=AliasChoices("isRolling", "is_rolling"))


class OpenSloAlphaSpec(Loose):
    service: str = Field(min_length=1)
    description: str = ""
    budgeting_method: Literal["Occurrences"] = Field(validation_alias="budgetingMethod")
    objectives: list[OpenSloAlphaObjective] = Field(min_length=1)
    time_windows: list[OpenSloAlphaTimeWindow] = Field(min_length=1, max_length=1, validation_alias="timeWindows")


class OpenSloAlpha(Loose):
    api_version: Literal["openslo/v1alpha"] = Field(validation_alias="apiVersion")
    kind: Literal["SLO"]
    metadata: KubernetesMetadata
    spec: OpenSloAlphaSpec


class OpenSloMetricSource(Loose):
    type: str = Field(min_length=1)
    spec: dict[str, Any] = {}


class OpenSloMetric(Loose):
    metric_source: OpenSloMetricSource = Field(validation_alias=AliasChoices("metricSource", "metric_source"))


class OpenSloRatioMetric(Loose):
    counter: bool = True
    good: OpenSloMetric | None = None
    bad: OpenSloMetric | None = None
    total: OpenSloMetric


class OpenSloIndicatorSpec(Loose):
    ratio_metric: OpenSloRatioMetric = Field(validation_alias=AliasChoices("ratioMetric", "ratio_metric"))


class OpenSloSli(Loose):
    api_version: Literal["openslo/v1"] = Field(validation_alias="apiVersion")
    kind: Literal["SLI"]
    metadata: KubernetesMetadata
    spec: OpenSloIndicatorSpec


class OpenSloTimeWindow(Loose):
    duration: str = Field(pattern=r"^\d+[mhdwMQY]$")
    is_rolling: bool = Field(True, validation_alias=AliasChoices("isRolling", "is_rolling"))


class OpenSloObjective(Loose):
    display_name: str = Field("", validation_alias=AliasChoices("displayName", "display_name"))
    target: float = Field(gt=0, lt=1)


class OpenSloSpec(Loose):
    service: str = Field(min_length=1)
    description: str = ""
    indicator: OpenSloSli | None = None
    indicator_ref: str | None = Field(None, validation_alias=AliasChoices("indicatorRef", "indicator_ref"))
    budgeting_method: Literal["Occurrences", "Timeslices", "RatioTimeslices"] = Field(validation_alias="budgetingMethod")
    objectives: list[OpenSloObjective] = Field(min_length=1)
    time_window: list[OpenSloTimeWindow] = Field(min_length=1, max_length=1, validation_alias="timeWindow")

    @model_validator(mode="after")
    def _one_indicator(self) -> OpenSloSpec:
        if (self.indicator is None) == (self.indicator_ref is None):
            raise ValueError("an SLO needs exactly one of indicator or indicatorRef")
        return self


class OpenSlo(Loose):
    api_version: Literal["openslo/v1"] = Field(validation_alias="apiVersion")
    kind: Literal["SLO"]
    metadata: KubernetesMetadata
    spec: OpenSloSpec


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

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"


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

    @property
    def alert_name(self) -> str:
        """The burn-rate alert's name, shared by the generated rules and the incidents found analytically."""
        if self.rules is not None and self.rules.alerting.name:
            return self.rules.alerting.name
        return "".join(part.capitalize() for part in re.split(r"[^a-zA-Z0-9]+", self.name) if part) + "ErrorBudgetBurn"


def _from_native(slo: NativeSlo, source: str) -> SloSpec:
    return SloSpec(
        name=slo.name, service="qtenancy", objective=round(slo.objective / 100, 12), window=slo.window, source=source, sli=slo.sli,
        group_by=slo.group_by, filter=dict(slo.filter),
        parameters=SliParameters(
            queue_wait_seconds=slo.threshold, latency_factor=slo.latency_factor,
            meter_granularity_seconds=slo.meter_granularity, billing_tolerance_seconds=slo.billing_tolerance,
            completeness_grace_seconds=slo.completeness_grace, reproducibility_alpha=slo.reproducibility_alpha,
        ),
        description=slo.description, labels=dict(slo.labels),
    )


def _catalogue_id(labels: dict[str, str], where: str) -> tuple[SliId | None, str]:
    value = labels.get("qtenancy_sli")
    if value is None:
        return None, "its events are PromQL queries; label it qtenancy_sli: M1..M8 to compute it from the jobs table"
    try:
        return SliId(value), ""
    except ValueError:
        raise SpecError(f"{where}: labels.qtenancy_sli: {value!r} is not an SLI of the catalogue") from None


def _from_sloth(service: SlothService, source: str, window: Window, version: str, mode: str) -> list[SloSpec]:
    specs = []
    for i, slo in enumerate(service.slos):
        labels = {**service.labels, **slo.labels}
        sli, why = _catalogue_id(labels, f"{source}: slos[{i}]")
        queries = slo.sli.events or slo.sli.raw
        rules = None
        if queries is not None:
            rules = RuleSource(
                service=service.service, name=slo.name, objective_percent=slo.objective, labels=labels,
                spec_version=version, mode=mode, alerting=slo.alerting,
                error_query=getattr(queries, "error_query", ""), total_query=getattr(queries, "total_query", ""),
                error_ratio_query=getattr(queries, "error_ratio_query", ""),
            )
        specs.append(SloSpec(
            name=slo.name, service=service.service, objective=round(slo.objective / 100, 12), window=window, source=source,
            sli=sli, group_by=Grouping(labels.get("qtenancy_group_by", "platform")), description=slo.description,
            labels=labels, not_computable="its SLI is a Sloth plugin, which qtenancy does not run" if rules is None else why,
            rules=rules,
        ))
    return specs


def _from_openslo_alpha(doc: OpenSloAlpha, source: str) -> list[SloSpec]:
    window = doc.spec.time_windows[0]
    days = {"Day": 1, "Week": 7, "Month": 30}[window.unit] * window.count
    if days != 30:
        raise SpecError(f"{source}: spec.timeWindows[0]: {window.count} {window.unit}: as in Sloth, OpenSLO v1alpha SLOs "
                        "must use a 30-day window")
    sli, why = _catalogue_id(doc.metadata.labels, source)
    specs = []
    for i, o in enumerate(doc.spec.objectives):
        name = f"{doc.metadata.name}-{i}"
        ratio = o.ratio_metrics
        if ratio.good is not None:
            raw = f"1 - (\n  (\n    {ratio.good.query}\n  )\n  /\n  (\n    {ratio.total.query}\n  )\n)\n"
        else:
            raw = f"(\n  {ratio.bad.query}\n)\n/\n(\n  {ratio.total.query}\n)\n"
        off = SlothAlert(disable=True)
        rules = RuleSource(
            service=doc.spec.service, name=name, objective_percent=round(o.target * 100, 10), labels={},
            spec_version="openslo/v1alpha", mode="cli-gen-openslo",
            alerting=SlothAlerting(page_alert=off, ticket_alert=off), error_ratio_query=raw,
        )
        specs.append(SloSpec(
            name=name, service=doc.spec.service, objective=o.target, window=Window(days * 86400.0), source=source,
            sli=sli, description=doc.spec.description, labels=dict(doc.metadata.labels), not_computable=why, rules=rules,
        ))
    return specs


def _openslo_window(duration: str) -> Window:
    number, unit = int(duration[:-1]), duration[-1]
    seconds = {"m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 30 * 86400, "Q": 91 * 86400, "Y": 365 * 86400}[unit]
    return Window(number * seconds)


def _from_openslo(doc: OpenSlo, indicators: dict[str, OpenSloSli], source: str) -> list[SloSpec]:
    indicator = doc.spec.indicator or indicators.get(doc.spec.indicator_ref or "")
    if indicator is None:
        raise SpecError(f"{source}: SLO {doc.metadata.name}: spec.indicatorRef: no SLI named {doc.spec.indicator_ref!r}")
    source_spec = indicator.spec.ratio_metric.total.metric_source
    sli, why = _catalogue_id(doc.metadata.labels, source)
    if source_spec.type == "qtenancy":
        sli, why = _catalogue_id({"qtenancy_sli": str(source_spec.spec.get("sli", ""))}, f"{source}: {indicator.metadata.name}")
    window = _openslo_window(doc.spec.time_window[0].duration)
    return [
        SloSpec(
            name=doc.metadata.name if len(doc.spec.objectives) == 1 else f"{doc.metadata.name}-{o.display_name or i}",
            service=doc.spec.service, objective=o.target, window=window, source=source, sli=sli,
            description=doc.spec.description, labels=dict(doc.metadata.labels), not_computable=why,
        )
        for i, o in enumerate(doc.spec.objectives)
    ]


def _validate(model: type[BaseModel], document: dict, where: str):
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in exc.errors())
        raise SpecError(f"{where}: {problems}") from None


def load_specs(path: Path, default_window: Window = Window(30 * 86400.0)) -> list[SloSpec]:
    """Every SLO in ``path`` (one or more YAML documents); SpecError names the file, document, field and reason."""
    try:
        documents = load_yaml_all(path, "spec")
    except YamlFileError as exc:
        raise SpecError(str(exc)) from None
    if not documents:
        raise SpecError(f"{path}: no spec in the file")
    specs: list[SloSpec] = []
    indicators: dict[str, OpenSloSli] = {}
    pending: list[tuple[OpenSlo, str]] = []
    for n, document in enumerate(documents):
        where = f"{path}" if len(documents) == 1 else f"{path} (document {n + 1})"
        if not isinstance(document, dict):
            raise SpecError(f"{where}: a spec document must be a mapping")
        version, api = document.get("version"), document.get("apiVersion")
        if version == "qtenancy/v1":
            specs += [_from_native(s, where) for s in _validate(NativeFile, document, where).slos]
        elif version == "prometheus/v1":
            specs += _from_sloth(_validate(SlothFile, document, where), where, default_window, version, "cli-gen-prom")
        elif api == "sloth.slok.dev/v1":
            specs += _from_sloth(_validate(SlothKubernetes, document, where).spec, where, default_window, api, "cli-gen-k8s")
        elif api == "openslo/v1alpha":
            specs += _from_openslo_alpha(_validate(OpenSloAlpha, document, where), where)
        elif api == "openslo/v1" and document.get("kind") == "SLI":
            sli = _validate(OpenSloSli, document, where)
            indicators[sli.metadata.name] = sli
        elif api == "openslo/v1":
            pending.append((_validate(OpenSlo, document, where), where))
        else:
            found = version or api
            raise SpecError(
                f"{where}: unknown spec version {found!r}: expected version qtenancy/v1 or prometheus/v1, "
                "or apiVersion sloth.slok.dev/v1, openslo/v1alpha or openslo/v1"
            )
    for doc, where in pending:
        specs += _from_openslo(doc, indicators, where)
    _no_duplicates(specs, str(path))
    return specs


def _no_duplicates(specs: list[SloSpec], where: str) -> None:
    ids = [f"{s.service}-{s.name}" for s in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SpecError(f"{where}: duplicate SLO ids (service-name) {duplicates}")


def load_all(paths: list[Path], default_window: Window = Window(30 * 86400.0)) -> list[SloSpec]:
    """Specs from many files (directories: their *.yaml and *.yml), with SLO ids unique across all of them."""
    files = sorted(
        f for p in paths for f in ([p] if not p.is_dir() else [*p.glob("*.yaml"), *p.glob("*.yml")])
    )
    specs = [spec for f in files for spec in load_specs(f, default_window)]
    _no_duplicates(specs, ", ".join(str(p) for p in paths))
    return specs
