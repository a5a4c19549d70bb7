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
- ``Timeslices`` and ``RatioTimeslices`` budgeting of a Prometheus ratio: rules whose error ratio is the
  share of bad slices of ``timeSliceWindow`` (or one minus the slices' average ratio) over each window;
- its alerts: each burn-rate ``AlertCondition`` of its ``alertPolicies`` as the alert it describes, else
  the page and ticket multiwindow burn alerts.
- a Prometheus ``thresholdMetric``: the share of its samples meeting each objective's ``op`` and ``value``,
  budgeted per sample (Occurrences) or per time slice;
Refused, naming the feature: time slices or thresholds over a jobs-table SLI, composite SLOs, calendar windows
other than a month or a week, other metric sources.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel

from contract.durations import format_duration
from slo.spec_formats.openslo import good_ratio_query
from slo.spec_formats.openslo_v1_schema import (
    KINDS,
    OPERATORS,
    AlertCondition,
    AlertPolicy,
    DataSource,
    Metric,
    Objective,
    RatioMetric,
    Ref,
    Sli,
    Slo,
    shorthand_seconds,
)
from slo.spec_formats.registry import FileContext
from slo.specs import (
    WINDOW,
    BurnCondition,
    RuleSource,
    SloSpec,
    SlothAlert,
    SlothAlerting,
    SpecError,
    Window,
    alert_name,
    catalogue_id,
    validate_document,
    with_window,
)


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


def _query(metric: Metric, counter: bool, where: str, field: str, resolution: str) -> str:
    spec = metric.metric_source.spec
    query = spec.get("query") or spec.get("promql")
    if not isinstance(query, str) or not query.strip():
        raise SpecError(f"{where}: {field}.metricSource.spec.query: a Prometheus query is required")
    query = query.strip()
    if counter and not WINDOW.search(query):
        return f"increase(({query})[{{{{.window}}}}:{resolution}])"
    return query


def _queries(ratio: RatioMetric, where: str, field: str, resolution: str = "") -> dict[str, str]:
    """The ratio's queries, each with Sloth's ``{{.window}}`` range: a counter's query without one is read as
    its increase over the window, sampled every ``resolution`` (Prometheus' evaluation interval if empty)."""
    return {name: _query(metric, ratio.counter and name != "raw", where, f"{field}.{name}", resolution)
            for name, metric in ratio.parts().items()}


def _occurrences(ratio: RatioMetric, q: dict[str, str]) -> dict[str, str]:
    """The error ratio as Sloth's rule generator reads it: events (bad/total) or a raw error-ratio query."""
    if "bad" in q:
        return {"error_query": q["bad"], "total_query": q["total"]}
    if "good" in q:
        return {"error_ratio_query": good_ratio_query(q["good"], q["total"])}
    return {"error_ratio_query": q["raw"] if ratio.raw_type == "failure" else f"1 - ({q['raw']})"}


def _success(indicator: Sli, objective: Objective, resolution: str, where: str, field: str, at: str) -> str:
    """The share of good events over ``{{.window}}``: good/total, 1 - bad/total, a raw success ratio, or the share
    of a threshold metric's samples (taken every ``resolution``) that meet the objective's ``op`` and ``value``."""
    if (threshold := indicator.spec.threshold_metric) is not None:
        if objective.op is None or objective.value is None:
            raise SpecError(f"{where}: {at}: an objective of a thresholdMetric SLI needs op and value")
        query = _query(threshold, False, where, f"{field}.thresholdMetric", resolution)
        return (f"avg_over_time((({query}) {OPERATORS[objective.op]} bool {objective.value!r})"
                f"[{{{{.window}}}}:{resolution}])")
    ratio = indicator.spec.ratio_metric
    q = _queries(ratio, where, f"{field}.ratioMetric", resolution)
    if "bad" in q:
        return f"1 - ({q['bad']}) / ({q['total']})"
    if "good" in q:
        return f"({q['good']}) / ({q['total']})"
    return q["raw"] if ratio.raw_type == "success" else f"1 - ({q['raw']})"


BAD_SLICE = {"gt": "<=", "gte": "<", "lt": ">=", "lte": ">", None: "<"}
"""A time slice is bad when its ratio fails ``timeSliceTarget`` by the objective's ``op`` (default: gte); the
``op`` of a thresholdMetric objective compares samples, so its slices are good from ``timeSliceTarget`` up."""


def _time_slices(indicator: Sli, method: str, objective: Objective, where: str, field: str, at: str) -> str:
    """The error ratio of time-slice budgeting over a window, as a subquery over slices of ``timeSliceWindow``:
    the share of bad slices (Timeslices) or one minus the slices' average ratio (RatioTimeslices). A counter or
    a threshold metric is sampled four times a slice."""
    size = objective.time_slice_window
    if size is None:
        raise SpecError(f"{where}: {at}.timeSliceWindow: required with {method} budgeting")
    seconds = float(size) * 60 if isinstance(size, (int, float)) else shorthand_seconds(size)
    slice_ = format_duration(seconds)
    per_slice = with_window(_success(indicator, objective, format_duration(seconds / 4), where, field, at), slice_)
    if method == "RatioTimeslices":
        return f"1 - avg_over_time(({per_slice})[{{{{.window}}}}:{slice_}])"
    if objective.time_slice_target is None:
        raise SpecError(f"{where}: {at}.timeSliceTarget: required with Timeslices budgeting")
    bad = BAD_SLICE[None if indicator.spec.threshold_metric else objective.op]
    return f"avg_over_time((({per_slice}) {bad} bool {objective.time_slice_target!r})[{{{{.window}}}}:{slice_}])"


def _error(indicator: Sli, method: str, objective: Objective, where: str, field: str, at: str) -> dict[str, str]:
    """The objective's error ratio for the rules, by the SLO's budgeting method."""
    if method != "Occurrences":
        return {"error_ratio_query": _time_slices(indicator, method, objective, where, field, at)}
    ratio = indicator.spec.ratio_metric
    if ratio is not None:
        return _occurrences(ratio, _queries(ratio, where, f"{field}.ratioMetric"))
    return {"error_ratio_query": f"1 - ({_success(indicator, objective, '', where, field, at)})"}


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
    indicator: Sli = spec.indicator or named.get("SLI", spec.indicator_ref, "spec.indicatorRef")
    field = "spec.indicator.spec" if spec.indicator else f"SLI {indicator.metadata.name}: spec"
    threshold, ratio = indicator.spec.threshold_metric, indicator.spec.ratio_metric
    parts, kind = ({"": threshold}, "thresholdMetric") if threshold else (ratio.parts(), "ratioMetric")
    types = {name: _source_type(m, named, f"{field}.{kind}.{name}".rstrip(".")) for name, m in parts.items()}
    kinds = {t.lower() for t in types.values()}
    labels = {**indicator.metadata.flat_labels(), **slo.metadata.flat_labels()}
    sli, why = catalogue_id(labels, where)
    window = _window(slo, context.default_window, where)
    method = spec.budgeting_method
    rules_made = kinds == {"prometheus"}
    if kinds == {"qtenancy"} and ratio is not None:
        part = "total" if ratio.total is not None else "raw"
        sli, why = catalogue_id({"qtenancy_sli": str(parts[part].metric_source.spec.get("sli", ""))},
                                f"{where}: {field}.ratioMetric.{part}.metricSource.spec.sli")
    elif rules_made and (method != "Occurrences" or threshold is not None):
        sli, why = None, "its budget counts time slices or threshold samples, which only its rules do"
    elif not rules_made and sli is None:
        typed = "total" if ratio is not None and ratio.total is not None else ("raw" if ratio is not None else "")
        raise _refuse(where, f"{field}.{kind}.{typed}.metricSource.type".replace("..", "."),
                      f"metric source type {'/'.join(sorted(set(types.values())))!r}",
                      "rules come from Prometheus queries; label the SLO qtenancy_sli: M1..M8 to compute a qtenancy "
                      "SLI from the jobs table instead")
    if not rules_made and (method != "Occurrences" or threshold is not None):
        feature = f"{method} budgeting" if method != "Occurrences" else "a thresholdMetric"
        raise _refuse(where, "spec.budgetingMethod" if method != "Occurrences" else f"{field}.thresholdMetric",
                      f"{feature} of an SLI computed from the jobs table",
                      "time slices and thresholds are budgeted in the rules made from Prometheus queries")
    conditions = _conditions(slo, named, where) if rules_made else ()
    specs = []
    for i, objective in enumerate(spec.objectives):
        name = slo.metadata.name if len(spec.objectives) == 1 else f"{slo.metadata.name}-{i}"
        made = SloSpec(name=name, service=spec.service, objective=objective.ratio, window=window, source=where, sli=sli,
                       description=spec.description, labels=labels, not_computable=why)
        rules = None
        if rules_made:
            error = _error(indicator, method, objective, where, field, f"spec.objectives[{i}]")
            severity = {"page": SlothAlert(labels={"severity": "page"}), "ticket": SlothAlert(labels={"severity": "ticket"})}
            rules = RuleSource(
                service=spec.service, name=name, objective_percent=objective.ratio * 100, labels=labels,
                spec_version="openslo/v1", mode="cli-gen-openslo",
                alerting=SlothAlerting(name=made.alert_name, page_alert=severity["page"], ticket_alert=severity["ticket"]),
                period_seconds=window.seconds, conditions=conditions, **error,
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
        model = KINDS.get(kind) if isinstance(kind, str) else None
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
