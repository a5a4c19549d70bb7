"""OpenSLO v1 as its specification (github.com/OpenSLO/OpenSLO, README.md) writes it.

Every kind is read: ``SLO``, ``SLI``, ``DataSource``, ``Service``, ``AlertPolicy``, ``AlertCondition`` and
``AlertNotificationTarget``, as documents, as items of a list, or inline where the specification allows
(an SLO's ``indicator`` is ``metadata`` + ``spec``). References (``indicatorRef``, ``metricSourceRef``,
``alertPolicyRef``, ``conditionRef``, ``targetRef``) are resolved among all the files read together.

What an SLO becomes:
- a ``ratioMetric`` whose source is Prometheus (inline ``type`` or its ``DataSource``'s): recording and
  alerting rules, the queries mapped as Sloth maps OpenSLO's (good/total as ``1 - good/total``); a query
  without Sloth's ``{{.window}}`` over a counter is read as its increase over each window;
- a source of type ``qtenancy`` (``spec.sli: M1..M8``), or an SLO labelled ``qtenancy_sli``: an SLI
  computed from the jobs table;
- its alerts: each burn-rate ``AlertCondition`` of its ``alertPolicies`` as the alert it describes, else
  the page and ticket multiwindow burn alerts.
Refused, naming the feature: ``thresholdMetric`` SLIs, ``Timeslices``/``RatioTimeslices`` budgeting,
composite SLOs, calendar windows other than a month or a week, other metric sources.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator

from slo.spec_formats.openslo import good_ratio_query
from slo.spec_formats.registry import FileContext
from slo.specs import (
    BurnCondition,
    Labels,
    LabelValue,
    Loose,
    RuleSource,
    SloSpec,
    SlothAlert,
    SlothAlerting,
    SpecError,
    Window,
    alert_name,
    catalogue_id,
    validate_document,
)

OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
SHORTHAND = r"^\d+[mhdwMQY]$"
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 30 * 86400, "Q": 91 * 86400, "Y": 365 * 86400}


def shorthand_seconds(duration: str) -> float:
    """OpenSLO's duration shorthand (``5m``, ``4w``, ``1M``): a month is 30 days, a quarter 91, a year 365."""
    return float(int(duration[:-1]) * UNIT_SECONDS[duration[-1]])


class Metadata(Loose):
    name: str = Field(min_length=1)
    display_name: str = Field("", validation_alias=AliasChoices("displayName", "display_name"))
    labels: dict[str, LabelValue | list[LabelValue]] = {}
    annotations: Labels = {}

    def flat_labels(self) -> dict[str, str]:
        """Labels as Prometheus labels: a list of values joined by commas."""
        return {k: ",".join(v) if isinstance(v, list) else v for k, v in self.labels.items()}


class MetricSource(Loose):
    metric_source_ref: str = Field("", validation_alias=AliasChoices("metricSourceRef", "metric_source_ref"))
    type: str = ""
    spec: dict[str, Any] = {}

    @model_validator(mode="after")
    def _typed(self) -> MetricSource:
        if not (self.type or self.metric_source_ref):
            raise ValueError("a metric source needs a type, or a metricSourceRef naming a DataSource")
        return self


class Metric(Loose):
    metric_source: MetricSource = Field(validation_alias=AliasChoices("metricSource", "metric_source"))


class RatioMetric(Loose):
    counter: bool = True
    good: Metric | None = None
    bad: Metric | None = None
    total: Metric | None = None
    raw_type: Literal["success", "failure"] | None = Field(None, validation_alias=AliasChoices("rawType", "raw_type"))
    raw: Metric | None = None

    @model_validator(mode="after")
    def _shape(self) -> RatioMetric:
        if self.raw is not None:
            if self.good or self.bad or self.total or self.raw_type is None:
                raise ValueError("a raw ratio takes rawType and no good, bad or total")
        elif (self.good is None) == (self.bad is None) or self.total is None:
            raise ValueError("a ratio needs total and exactly one of good or bad (or raw with rawType)")
        return self

    def parts(self) -> dict[str, Metric]:
        return {k: m for k, m in (("good", self.good), ("bad", self.bad), ("total", self.total), ("raw", self.raw))
                if m is not None}


class SliSpec(Loose):
    description: str = ""
    threshold_metric: Metric | None = Field(None, validation_alias=AliasChoices("thresholdMetric", "threshold_metric"))
    ratio_metric: RatioMetric | None = Field(None, validation_alias=AliasChoices("ratioMetric", "ratio_metric"))

    @model_validator(mode="after")
    def _one(self) -> SliSpec:
        if (self.threshold_metric is None) == (self.ratio_metric is None):
            raise ValueError("an SLI needs exactly one of ratioMetric or thresholdMetric")
        return self


class Sli(Loose):
    """An SLI: a document of its own, or inline in an SLO (``metadata`` + ``spec``, no apiVersion or kind)."""

    metadata: Metadata
    spec: SliSpec


class Objective(Loose):
    display_name: str = Field("", validation_alias=AliasChoices("displayName", "display_name"))
    op: Literal["lte", "gte", "lt", "gt"] | None = None
    value: float | None = None
    target: float | None = Field(None, ge=0, lt=1)
    target_percent: float | None = Field(None, ge=0, lt=100, validation_alias=AliasChoices("targetPercent", "target_percent"))
    time_slice_target: float | None = Field(None, gt=0, le=1, validation_alias=AliasChoices("timeSliceTarget", "time_slice_target"))
    time_slice_window: str | float | None = Field(None, validation_alias=AliasChoices("timeSliceWindow", "time_slice_window"))
    indicator: Sli | None = None
    indicator_ref: str | None = Field(None, validation_alias=AliasChoices("indicatorRef", "indicator_ref"))
    composite_weight: float | None = Field(None, gt=0, validation_alias=AliasChoices("compositeWeight", "composite_weight"))

    @model_validator(mode="after")
    def _one_target(self) -> Objective:
        if (self.target is None) == (self.target_percent is None):
            raise ValueError("an objective needs exactly one of target or targetPercent")
        return self

    @property
    def ratio(self) -> float:
        return self.target if self.target is not None else round(self.target_percent / 100, 12)


class Calendar(Loose):
    start_time: LabelValue = Field(validation_alias=AliasChoices("startTime", "start_time"))
    time_zone: str = Field(validation_alias=AliasChoices("timeZone", "time_zone"))


class TimeWindow(Loose):
    duration: str = Field(pattern=SHORTHAND)
    is_rolling: bool | None = Field(None, validation_alias=AliasChoices("isRolling", "is_rolling"))
    calendar: Calendar | None = None

    @property
    def rolling(self) -> bool:
        return self.is_rolling if self.is_rolling is not None else self.calendar is None


class Condition(Loose):
    kind: str = "burnrate"
    op: Literal["lte", "gte", "lt", "gt"]
    threshold: float
    lookback_window: str = Field(pattern=SHORTHAND, validation_alias=AliasChoices("lookbackWindow", "lookback_window"))
    alert_after: str = Field("0m", pattern=SHORTHAND, validation_alias=AliasChoices("alertAfter", "alert_after"))


class AlertConditionSpec(Loose):
    description: str = ""
    severity: str = Field(min_length=1)
    condition: Condition


class AlertCondition(Loose):
    metadata: Metadata
    spec: AlertConditionSpec


class NotificationTargetSpec(Loose):
    target: str = Field(min_length=1)
    description: str = ""


class NotificationTarget(Loose):
    metadata: Metadata
    spec: NotificationTargetSpec


class Ref(Loose):
    """An item that is either a reference by name (``ref``, under the key ``REF_KEY``) or the object inline."""

    REF_KEY: ClassVar[str] = ""
    ref: str | None = None
    metadata: Metadata | None = None
    spec: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _ref_or_inline(self) -> Ref:
        if (self.ref is None) == (self.metadata is None or self.spec is None):
            raise ValueError(f"give either {self.REF_KEY} or the object inline (metadata and spec)")
        return self


class ConditionEntry(Ref):
    REF_KEY: ClassVar[str] = "conditionRef"
    ref: str | None = Field(None, validation_alias=AliasChoices("conditionRef", "condition_ref"))


class TargetEntry(Ref):
    REF_KEY: ClassVar[str] = "targetRef"
    ref: str | None = Field(None, validation_alias=AliasChoices("targetRef", "target_ref"))


class AlertPolicySpec(Loose):
    description: str = ""
    alert_when_no_data: bool = Field(False, validation_alias=AliasChoices("alertWhenNoData", "alert_when_no_data"))
    alert_when_resolved: bool = Field(False, validation_alias=AliasChoices("alertWhenResolved", "alert_when_resolved"))
    alert_when_breaching: bool = Field(True, validation_alias=AliasChoices("alertWhenBreaching", "alert_when_breaching"))
    conditions: list[ConditionEntry] = Field(min_length=1, max_length=1)
    notification_targets: list[TargetEntry] = Field(
        [], validation_alias=AliasChoices("notificationTargets", "notification_targets"))


class AlertPolicy(Loose):
    metadata: Metadata
    spec: AlertPolicySpec


class PolicyEntry(Ref):
    REF_KEY: ClassVar[str] = "alertPolicyRef"
    ref: str | None = Field(None, validation_alias=AliasChoices("alertPolicyRef", "alert_policy_ref"))


class SloSpecV1(Loose):
    description: str = ""
    service: str = Field(min_length=1)
    indicator: Sli | None = None
    indicator_ref: str | None = Field(None, validation_alias=AliasChoices("indicatorRef", "indicator_ref"))
    time_window: list[TimeWindow] = Field([], max_length=1, validation_alias=AliasChoices("timeWindow", "time_window"))
    budgeting_method: Literal["Occurrences", "Timeslices", "RatioTimeslices"] = Field(
        "Occurrences", validation_alias=AliasChoices("budgetingMethod", "budgeting_method"),
        description="required by the specification, yet left out by its own README example: Occurrences then")
    objectives: list[Objective] = Field(min_length=1)
    alert_policies: list[PolicyEntry] | None = Field(None, validation_alias=AliasChoices("alertPolicies", "alert_policies"))

    @model_validator(mode="after")
    def _one_indicator(self) -> SloSpecV1:
        composite = any(o.indicator or o.indicator_ref for o in self.objectives)
        if not composite and (self.indicator is None) == (self.indicator_ref is None):
            raise ValueError("an SLO needs exactly one of indicator or indicatorRef")
        return self


class Slo(Loose):
    metadata: Metadata
    spec: SloSpecV1


class DataSourceSpec(Loose):
    description: str = ""
    type: str = Field(min_length=1)
    connection_details: dict[str, Any] = Field({}, validation_alias=AliasChoices("connectionDetails", "connection_details"))


class DataSource(Loose):
    metadata: Metadata
    spec: DataSourceSpec


class ServiceSpec(Loose):
    description: str = ""


class Service(Loose):
    metadata: Metadata
    spec: ServiceSpec = ServiceSpec()


KINDS: dict[str, type[BaseModel]] = {
    "SLO": Slo, "SLI": Sli, "DataSource": DataSource, "Service": Service, "AlertPolicy": AlertPolicy,
    "AlertCondition": AlertCondition, "AlertNotificationTarget": NotificationTarget,
}


class _Named:
    """The named objects of the files read, with the place each name was looked up from for errors."""

    def __init__(self, context: FileContext, where: str):
        self.context, self.where = context, where

    def get(self, kind: str, name: str, field: str):
        found = self.context.named.get(kind, {}).get(name)
        if found is None:
            raise SpecError(f"{self.where}: {field}: no {kind} named {name!r} in the files read")
        return found[0]


def _inline(model: type[BaseModel], entry: Ref, where: str):
    return validate_document(model, {"metadata": entry.metadata.model_dump(by_alias=False), "spec": entry.spec}, where)


def _refuse(where: str, field: str, feature: str, supported: str) -> SpecError:
    return SpecError(f"{where}: {field}: {feature} is not supported by qtenancy ({supported})")


def _window(slo: Slo, default: Window, where: str) -> Window:
    if not slo.spec.time_window:
        return default
    window = slo.spec.time_window[0]
    if window.rolling:
        return Window(shorthand_seconds(window.duration))
    calendars = {"1M": Window(30 * 86400.0, "month"), "1w": Window(7 * 86400.0, "week")}
    if window.duration not in calendars:
        raise _refuse(where, "spec.timeWindow[0]", f"a calendar-aligned window of {window.duration}",
                      "calendar windows are 1M or 1w")
    return calendars[window.duration]


def _source_type(metric: Metric, named: _Named, field: str) -> str:
    """The source's own type, else its DataSource's (the specification lets either say it)."""
    source = metric.metric_source
    if source.type:
        return source.type
    data_source: DataSource = named.get("DataSource", source.metric_source_ref, f"{field}.metricSource.metricSourceRef")
    return data_source.spec.type


def _query(metric: Metric, counter: bool, where: str, field: str) -> str:
    spec = metric.metric_source.spec
    query = spec.get("query") or spec.get("promql")
    if not isinstance(query, str) or not query.strip():
        raise SpecError(f"{where}: {field}.metricSource.spec.query: a Prometheus query is required")
    query = query.strip()
    if counter and not re.search(r"\{\{\s*\.window\s*\}\}", query):
        return f"increase(({query})[{{{{.window}}}}:])"
    return query


def _queries(ratio: RatioMetric, where: str, field: str) -> dict[str, str]:
    """The error ratio as Sloth's rule generator reads it: events (bad/total) or a raw error-ratio query."""
    q = {name: _query(metric, ratio.counter and name != "raw", where, f"{field}.{name}")
         for name, metric in ratio.parts().items()}
    if "bad" in q:
        return {"error_query": q["bad"], "total_query": q["total"]}
    if "good" in q:
        return {"error_ratio_query": good_ratio_query(q["good"], q["total"])}
    return {"error_ratio_query": q["raw"] if ratio.raw_type == "failure" else f"1 - ({q['raw']})"}


def _conditions(slo: Slo, named: _Named, where: str) -> tuple[BurnCondition, ...]:
    conditions = []
    for i, entry in enumerate(slo.spec.alert_policies or []):
        field = f"spec.alertPolicies[{i}]"
        policy: AlertPolicy = (named.get("AlertPolicy", entry.ref, f"{field}.alertPolicyRef") if entry.ref
                               else _inline(AlertPolicy, entry, f"{where}: {field}"))
        if not policy.spec.alert_when_breaching:
            raise _refuse(where, f"AlertPolicy {policy.metadata.name}: spec.alertWhenBreaching",
                          "a policy that does not alert on breaches", "its alerts fire on breaches")
        targets = [named.get("AlertNotificationTarget", t.ref, f"AlertPolicy {policy.metadata.name}: targetRef").metadata.name
                   if t.ref else t.metadata.name for t in policy.spec.notification_targets]
        for entry_c in policy.spec.conditions:
            condition: AlertCondition = (
                named.get("AlertCondition", entry_c.ref, f"AlertPolicy {policy.metadata.name}: spec.conditions[0].conditionRef")
                if entry_c.ref else _inline(AlertCondition, entry_c, f"{where}: AlertPolicy {policy.metadata.name}"))
            rule = condition.spec.condition
            if rule.kind != "burnrate":
                raise _refuse(where, f"AlertCondition {condition.metadata.name}: spec.condition.kind",
                              f"condition kind {rule.kind!r}", "conditions are burnrate")
            labels = {"severity": condition.spec.severity, "openslo_alert_policy": policy.metadata.name,
                      **({"notification_targets": ",".join(targets)} if targets else {})}
            description = condition.spec.description or policy.spec.description
            conditions.append(BurnCondition(
                name=alert_name(condition.metadata.name), op=OPERATORS[rule.op], threshold=rule.threshold,
                lookback_seconds=shorthand_seconds(rule.lookback_window), for_seconds=shorthand_seconds(rule.alert_after),
                labels=labels, annotations={"description": description} if description else {},
                when_no_data=policy.spec.alert_when_no_data,
            ))
    return tuple(conditions)


def _from_slo(slo: Slo, context: FileContext, where: str) -> list[SloSpec]:
    """The SLO's objectives as specs, or a SpecError naming what of it is not supported."""
    named = _Named(context, where)
    spec = slo.spec
    for i, objective in enumerate(spec.objectives):
        if objective.indicator or objective.indicator_ref:
            raise _refuse(where, f"spec.objectives[{i}].indicator", "a composite SLO (an indicator per objective)",
                          "one indicator per SLO")
    if spec.budgeting_method != "Occurrences":
        raise _refuse(where, "spec.budgetingMethod", f"{spec.budgeting_method} budgeting",
                      "it budgets Occurrences: good events over all events")
    indicator: Sli = spec.indicator or named.get("SLI", spec.indicator_ref, "spec.indicatorRef")
    field = "spec.indicator.spec" if spec.indicator else f"SLI {indicator.metadata.name}: spec"
    if indicator.spec.threshold_metric is not None:
        raise _refuse(where, f"{field}.thresholdMetric", "a thresholdMetric SLI", "its SLIs are ratioMetric")
    ratio = indicator.spec.ratio_metric
    types = {name: _source_type(m, named, f"{field}.ratioMetric.{name}") for name, m in ratio.parts().items()}
    kinds = {t.lower() for t in types.values()}
    labels = {**indicator.metadata.flat_labels(), **slo.metadata.flat_labels()}
    sli, why = catalogue_id(labels, where)
    window = _window(slo, context.default_window, where)
    queries: dict[str, str] = {}
    if kinds == {"qtenancy"}:
        sli, why = catalogue_id({"qtenancy_sli": str(ratio.parts()["total"].metric_source.spec.get("sli", ""))},
                                f"{where}: {field}.ratioMetric.total.metricSource.spec.sli")
    elif kinds == {"prometheus"}:
        queries = _queries(ratio, where, f"{field}.ratioMetric")
    elif sli is None:
        raise _refuse(where, f"{field}.ratioMetric.total.metricSource.type",
                      f"metric source type {'/'.join(sorted(set(types.values())))!r}",
                      "rules come from Prometheus queries; label the SLO qtenancy_sli: M1..M8 to compute a qtenancy "
                      "SLI from the jobs table instead")
    conditions = _conditions(slo, named, where) if queries else ()
    specs = []
    for i, objective in enumerate(spec.objectives):
        name = slo.metadata.name if len(spec.objectives) == 1 else f"{slo.metadata.name}-{i}"
        made = SloSpec(name=name, service=spec.service, objective=objective.ratio, window=window, source=where, sli=sli,
                       description=spec.description, labels=labels, not_computable=why)
        rules = None
        if queries:
            severity = {"page": SlothAlert(labels={"severity": "page"}), "ticket": SlothAlert(labels={"severity": "ticket"})}
            rules = RuleSource(
                service=spec.service, name=name, objective_percent=objective.ratio * 100, labels=labels,
                spec_version="openslo/v1", mode="cli-gen-openslo",
                alerting=SlothAlerting(name=made.alert_name, page_alert=severity["page"], ticket_alert=severity["ticket"]),
                period_seconds=window.seconds, conditions=conditions, **queries,
            )
        specs.append(replace(made, rules=rules))
    return specs


class OpenSloFormat:
    """Named objects are kept for the SLOs, which are made once every file has been read."""

    name = "openslo/v1"

    def recognises(self, document: dict) -> bool:
        return document.get("apiVersion") == "openslo/v1"

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]:
        kind = document.get("kind")
        model = KINDS.get(kind)
        if model is None:
            raise SpecError(f"{where}: kind: {kind!r} is not an OpenSLO v1 kind ({', '.join(KINDS)})")
        read = validate_document(model, document, where)
        if kind == "SLO":
            context.deferred.append(lambda: _from_slo(read, context, where))
        named = context.named.setdefault(kind, {})
        if read.metadata.name in named:
            raise SpecError(f"{where}: metadata.name: {kind} {read.metadata.name!r} is already defined in "
                            f"{named[read.metadata.name][1]}")
        named[read.metadata.name] = (read, where)
        return []
