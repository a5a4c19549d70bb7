"""OpenSLO: ``openslo/v1alpha`` SLOs, and ``openslo/v1`` SLOs with their SLIs inline or as documents of the file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from slo.spec_formats.registry import FileContext
from slo.specs import (
    KubernetesMetadata,
    Loose,
    RuleSource,
    SloSpec,
    SlothAlert,
    SlothAlerting,
    SpecError,
    Window,
    catalogue_id,
    validate_document,
)


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


def good_ratio_query(good: str, total: str) -> str:
    """The error ratio of a good/total ratio, in the words of Sloth's OpenSLO loader (Sloth counts bad events)."""
    return f"\n  1 - (\n    (\n      {good}\n    )\n    /\n    (\n      {total}\n    )\n  )\n"


def _from_openslo_alpha(doc: OpenSloAlpha, source: str) -> list[SloSpec]:
    window = doc.spec.time_windows[0]
    days = {"Day": 1, "Week": 7, "Month": 30}[window.unit] * window.count
    if days != 30:
        raise SpecError(f"{source}: spec.timeWindows[0]: {window.count} {window.unit}: as in Sloth, OpenSLO v1alpha SLOs "
                        "must use a 30-day window")
    sli, why = catalogue_id(doc.metadata.labels, source)
    specs = []
    for i, o in enumerate(doc.spec.objectives):
        name = f"{doc.metadata.name}-{i}"
        ratio = o.ratio_metrics
        if ratio.good is not None:
            raw = good_ratio_query(ratio.good.query, ratio.total.query)
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
    sli, why = catalogue_id(doc.metadata.labels, source)
    if source_spec.type == "qtenancy":
        sli, why = catalogue_id({"qtenancy_sli": str(source_spec.spec.get("sli", ""))}, f"{source}: {indicator.metadata.name}")
    window = _openslo_window(doc.spec.time_window[0].duration)
    return [
        SloSpec(
            name=doc.metadata.name if len(doc.spec.objectives) == 1 else f"{doc.metadata.name}-{o.display_name or i}",
            service=doc.spec.service, objective=o.target, window=window, source=source, sli=sli,
            description=doc.spec.description, labels=dict(doc.metadata.labels), not_computable=why,
        )
        for i, o in enumerate(doc.spec.objectives)
    ]


class OpenSloAlphaFormat:
    name = "openslo/v1alpha"

    def recognises(self, document: dict) -> bool:
        return document.get("apiVersion") == "openslo/v1alpha"

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]:
        return _from_openslo_alpha(validate_document(OpenSloAlpha, document, where), where)


class OpenSloFormat:
    """An ``SLI`` document names an indicator for the file's SLOs, so SLOs are made once the file is read."""

    name = "openslo/v1"

    def recognises(self, document: dict) -> bool:
        return document.get("apiVersion") == "openslo/v1"

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]:
        if document.get("kind") == "SLI":
            sli = validate_document(OpenSloSli, document, where)
            context.indicators[sli.metadata.name] = sli
            return []
        slo = validate_document(OpenSlo, document, where)
        context.deferred.append(lambda: _from_openslo(slo, context.indicators, where))
        return []
