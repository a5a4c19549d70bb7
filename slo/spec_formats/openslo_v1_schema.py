"""The objects of OpenSLO v1 as its specification (github.com/OpenSLO/OpenSLO, README.md) defines them.

Each kind's fields, with the specification's names; an object may be a document of its own or, where the
specification allows, inline in another (an SLO's ``indicator``, a policy's ``conditions``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, Field, model_validator

from slo.specs import Labels, LabelValue, Loose

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
