"""Pyrra's ``pyrra.dev/v1alpha1`` ``ServiceLevelObjective``, read as Pyrra reads it (github.com/pyrra-dev/pyrra,
``kubernetes/api/v1alpha1`` and ``slo/``).

Its indicator (``ratio``, ``latency``, ``latencyNative`` or ``bool_gauge``, each with its ``grouping``) becomes
the error and total queries Pyrra's burn-rate recordings use; its alerts keep Pyrra's shape: one per window
pair, with Pyrra's windows, factors, ``for`` durations, severities and labels (``Windows`` in slo/rules.go),
and the absent alert on the indicator's metrics. Labelled ``qtenancy_sli``, it is also computed from the jobs
table, grouped by its ``grouping`` when that is one of tenant, backend or namespace.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, Field, model_validator

from contract.alert_catalogue import BurnWindow, BurnWindows, Severity
from contract.durations import parse_duration
from slo.spec_formats.registry import FileContext
from slo.specs import (
    AbsentAlert,
    Grouping,
    KubernetesMetadata,
    Loose,
    RuleSource,
    SloSpec,
    SlothAlert,
    SlothAlerting,
    Window,
    WindowAlerts,
    catalogue_id,
    validate_document,
)

PROPAGATED = "pyrra.dev/"
"""Pyrra copies an SLO's labels with this prefix (the prefix removed) onto its rules."""


class Query(Loose):
    metric: str = Field(min_length=1)


class RatioIndicator(Loose):
    errors: Query
    total: Query
    grouping: list[str] = []


class LatencyIndicator(Loose):
    success: Query
    total: Query
    grouping: list[str] = []


def _checked(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_checked)]
"""A Prometheus duration as Pyrra's files write it (``2w``, ``200ms``), kept as written."""


class NativeLatencyIndicator(Loose):
    latency: Duration
    total: Query
    grouping: list[str] = []


class BoolGaugeIndicator(Query):
    grouping: list[str] = []


class Indicator(Loose):
    ratio: RatioIndicator | None = None
    latency: LatencyIndicator | None = None
    latency_native: NativeLatencyIndicator | None = Field(None, validation_alias=AliasChoices("latencyNative", "latency_native"))
    bool_gauge: BoolGaugeIndicator | None = None

    @model_validator(mode="after")
    def _one(self) -> Indicator:
        if sum(i is not None for i in (self.ratio, self.latency, self.latency_native, self.bool_gauge)) != 1:
            raise ValueError("an indicator needs exactly one of ratio, latency, latencyNative or bool_gauge")
        return self


class Severities(Loose):
    absent: str = ""
    fast_burn: str = Field("", validation_alias=AliasChoices("fastBurn", "fast_burn"))
    medium_burn: str = Field("", validation_alias=AliasChoices("mediumBurn", "medium_burn"))
    slow_burn: str = Field("", validation_alias=AliasChoices("slowBurn", "slow_burn"))
    long_term_burn: str = Field("", validation_alias=AliasChoices("longTermBurn", "long_term_burn"))


class Alerting(Loose):
    disabled: bool = False
    burnrates: bool = True
    absent: bool = True
    name: str = "ErrorBudgetBurn"
    absent_name: str = Field("SLOMetricAbsent", validation_alias=AliasChoices("absentName", "absent_name"))
    severities: Severities = Severities()


class Spec(Loose):
    description: str = ""
    target: float = Field(gt=0, lt=100, description="percent, written as a string in Pyrra's files")
    window: Duration
    indicator: Indicator
    alerting: Alerting = Alerting()


class ServiceLevelObjective(Loose):
    api_version: Literal["pyrra.dev/v1alpha1"] = Field(validation_alias="apiVersion")
    kind: Literal["ServiceLevelObjective"]
    metadata: KubernetesMetadata
    spec: Spec


MINUTE_NS = 60 * 10**9


def _round_minute(nanoseconds: int) -> int:
    """Go's ``Duration.Round(time.Minute)``: to the nearest minute, halves away from zero."""
    rest = nanoseconds % MINUTE_NS
    return nanoseconds - rest if rest + rest < MINUTE_NS else nanoseconds + MINUTE_NS - rest


def pyrra_windows(window_seconds: float) -> BurnWindows:
    """Pyrra's four window pairs for an SLO window, as its ``Windows`` computes them (integer division of the
    window, rounded to the minute): for 28 days 5m/1h x14, 30m/6h x7 (critical), 2h/1d x2, 6h/4d x1 (warning).
    A window that rounds to nothing (the short ones of an SLO window under about three days) takes one minute,
    the shortest range a rate can read, so the rules stay valid where a zero range would not be."""
    window = int(window_seconds) * 10**9

    def rounded(nanoseconds: int) -> float:
        return max(_round_minute(nanoseconds), MINUTE_NS) / 1e9

    def pair(severity: Severity, factor: float, short: int, long: int, wait: int) -> BurnWindow:
        long_seconds = rounded(window // long)
        return BurnWindow(severity, factor * long_seconds / window_seconds * 100, rounded(window // short),
                          long_seconds, fixed_factor=factor, for_seconds=_round_minute(window // wait) / 1e9)

    return BurnWindows(
        window_seconds,
        pair(Severity.PAGE, 14, 28 * 24 * 12, 28 * 24, 28 * 24 * 30),
        pair(Severity.PAGE, 7, 28 * 24 * 2, 28 * 4, 28 * 24 * 4),
        pair(Severity.TICKET, 2, 28 * 12, 28, 28 * 24),
        pair(Severity.TICKET, 1, 28 * 4, 7, 28 * 8),
    )


def _by(grouping: list[str]) -> str:
    return f"sum by ({', '.join(sorted(set(grouping)))}) " if grouping else "sum"


def _queries(indicator: Indicator) -> tuple[dict[str, str], list[str], list[str]]:
    """The error and total queries of Pyrra's burn-rate recordings, the indicator's grouping, and the metrics
    whose absence Pyrra alerts on."""
    w = "[{{.window}}]"
    if (ratio := indicator.ratio) is not None:
        s = _by(ratio.grouping)
        return ({"error_query": f"{s}(rate({ratio.errors.metric}{w}))", "total_query": f"{s}(rate({ratio.total.metric}{w}))"},
                ratio.grouping, [ratio.total.metric, ratio.errors.metric])
    if (latency := indicator.latency) is not None:
        s = _by(latency.grouping)
        total = f"{s}(rate({latency.total.metric}{w}))"
        return ({"error_query": f"{total} - {s}(rate({latency.success.metric}{w}))", "total_query": total},
                latency.grouping, [latency.total.metric, latency.success.metric])
    if (native := indicator.latency_native) is not None:
        s = _by(native.grouping)
        seconds = parse_duration(native.latency)
        return ({"error_ratio_query": f"1 - histogram_fraction(0, {seconds:g}, {s}(rate({native.total.metric}{w})))"},
                native.grouping, [native.total.metric])
    gauge = indicator.bool_gauge
    s = _by(gauge.grouping)
    count = f"{s}(count_over_time({gauge.metric}{w}))"
    return ({"error_query": f"{count} - {s}(sum_over_time({gauge.metric}{w}))", "total_query": count},
            gauge.grouping, [gauge.metric])


def _matcher_labels(selector: str, grouping: list[str]) -> dict[str, str]:
    """The equality matchers of a selector, which Pyrra puts on its rules (except those grouped by)."""
    inside = selector[selector.find("{") + 1:selector.rfind("}")] if "{" in selector else ""
    return {k: v for k, v in re.findall(r'(?:^|,)\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"', inside)
            if k not in grouping}


def _from_pyrra(slo: ServiceLevelObjective, where: str) -> SloSpec:
    spec, meta = slo.spec, slo.metadata
    queries, grouping, watched = _queries(spec.indicator)
    window_seconds = parse_duration(spec.window)
    windows = pyrra_windows(window_seconds)
    labels = {**{k.removeprefix(PROPAGATED): v for k, v in meta.labels.items() if k.startswith(PROPAGATED)},
              **_matcher_labels(watched[0], grouping)}
    sli, why = catalogue_id(meta.labels, where)
    service = meta.namespace or "default"
    alerting = spec.alerting
    burning = not alerting.disabled and alerting.burnrates
    severities = alerting.severities
    most_critical = windows.page_quick
    absent_for = _round_minute(int(most_critical.fixed_factor * (1 - spec.target / 100) * most_critical.long_seconds) * 10**9
                               + int(most_critical.for_seconds) * 10**9) / 1e9
    off = SlothAlert(disable=True)
    rules = RuleSource(
        service=service, name=meta.name, objective_percent=spec.target, labels=labels, spec_version="pyrra.dev/v1alpha1",
        mode="cli-gen-pyrra", alerting=SlothAlerting(page_alert=off, ticket_alert=off), windows=windows,
        window_alerts=WindowAlerts(
            name=alerting.name, burn=burning,
            severities=(severities.fast_burn or "critical", severities.medium_burn or "critical",
                        severities.slow_burn or "warning", severities.long_term_burn or "warning"),
            absent=AbsentAlert(alerting.absent_name, tuple(dict.fromkeys(watched)), absent_for, severities.absent or "critical")
            if alerting.absent and not alerting.disabled else None,
        ),
        **queries,
    )
    groups = [Grouping(g) for g in grouping if g in {x.value for x in Grouping} and g != Grouping.PLATFORM]
    return SloSpec(
        name=meta.name, service=service, objective=round(spec.target / 100, 12), window=Window(window_seconds),
        source=where, sli=sli, group_by=groups[0] if len(groups) == 1 else Grouping.PLATFORM,
        description=spec.description, labels={**meta.labels, **labels}, not_computable=why, rules=rules,
    )


class PyrraFormat:
    name = "pyrra.dev/v1alpha1"

    def recognises(self, document: dict) -> bool:
        return document.get("apiVersion") == "pyrra.dev/v1alpha1"

    def load(self, document: dict, where: str, context: FileContext) -> list[SloSpec]:
        return [_from_pyrra(validate_document(ServiceLevelObjective, document, where), where)]
