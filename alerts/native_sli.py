"""qtenancy's own SLO specs as Sloth rule sources: each catalogue SLI as PromQL over the contract's metrics.

Only SLIs with a real-time signal dense enough for burn-rate windows get rules: M1 (jobs by usable
outcome), M2 (queue-wait histogram, at a bucket boundary) and M5 (spans exported and dropped). Calibration
(M4) is too sparse and billing (M6) too noisy per window: operational alerts watch them; M8 has no metric.
"""

from __future__ import annotations

import re

from contract.alert_catalogue import RUNBOOK_BASE, SLO_BURN_RUNBOOK
from contract.semconv import METRICS, Metric
from slo.catalogue import CATALOGUE, SliId
from slo.specs import Grouping, RuleSource, SloSpec, SlothAlert, SlothAlerting

BUCKETS = {m.name: m.buckets for m in METRICS}
LABELS = {m.name: {label.value for label in m.labels} for m in METRICS}


class NotGeneratable(ValueError):
    """The spec cannot become rules as written (a label the metric lacks, a threshold that is no bucket)."""


class AnalyticalOnly(NotGeneratable):
    """The spec's SLI has no real-time signal, or one too sparse to burn-rate alert on: it is computed from the
    jobs table only, by design."""


def _matchers(metric: str, spec: SloSpec, fixed: str = "") -> str:
    parts = [fixed] if fixed else []
    for label, values in sorted(spec.filter.items()):
        if label not in LABELS[metric]:
            raise NotGeneratable(f"{spec.name}: {metric} has no {label} label to filter on")
        parts.append(f'{label}=~"{"|".join(re.escape(v) for v in values)}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def _sum(spec: SloSpec, metric: str, series: str) -> str:
    if spec.group_by is Grouping.PLATFORM:
        return f"sum(rate({series}[{{{{.window}}}}]))"
    if spec.group_by.value not in LABELS[metric]:
        raise NotGeneratable(f"{spec.name}: {metric} has no {spec.group_by.value} label to group by")
    return f"sum by ({spec.group_by.value}) (rate({series}[{{{{.window}}}}]))"


def _or_zero(error: str, total: str) -> str:
    """The error rate, or 0 for a group that has events but never a bad one, whose error series a broker
    need not have created: so every group has an SLI, a budget and burn rates, at 0 when all is well."""
    return f"({error} or 0 * {total})"


def _queries(spec: SloSpec) -> tuple[str, str]:
    if reason := CATALOGUE[spec.sli].no_burn_alerts:
        raise AnalyticalOnly(f"{spec.name}: {reason}")
    match spec.sli:
        case SliId.M1:
            metric = Metric.JOBS.value
            total = _sum(spec, metric, metric + _matchers(metric, spec, 'outcome!="rejected"'))
            error = _sum(spec, metric, metric + _matchers(metric, spec, 'outcome!="rejected",usable="false"'))
            return _or_zero(error, total), total
        case SliId.M2:
            base = Metric.QUEUE_WAIT.value
            threshold = spec.parameters.queue_wait_seconds
            if threshold not in BUCKETS[base]:
                raise NotGeneratable(f"{spec.name}: threshold {threshold:g}s is not a bucket of {base} {BUCKETS[base]}")
            count = _sum(spec, base, f"{base}_count" + _matchers(base, spec))
            within = _sum(spec, base, f"{base}_bucket" + _matchers(base, spec, f'le="{threshold:.1f}"'))
            return f"{count} - {within}", count
        case SliId.M5:
            dropped, exported = Metric.TELEMETRY_SPANS_DROPPED.value, Metric.TELEMETRY_SPANS_EXPORTED.value
            error = _or_zero(_sum(spec, dropped, dropped + _matchers(dropped, spec)),
                             _sum(spec, exported, exported + _matchers(exported, spec)))
            return error, f"{_sum(spec, exported, exported + _matchers(exported, spec))} + {error}"
    raise AnalyticalOnly(f"{spec.name}: SLI {spec.sli} has no real-time signal in the telemetry contract")


def rule_source(spec: SloSpec, runbook_base: str = RUNBOOK_BASE) -> RuleSource:
    """The spec's rules: Sloth's own SLOs as they are, qtenancy's SLIs translated to PromQL."""
    if spec.rules is not None:
        return spec.rules
    if spec.sli is None:
        raise NotGeneratable(f"{spec.name}: {spec.not_computable}")
    error, total = _queries(spec)
    annotations = {"runbook_url": f"{runbook_base}/{SLO_BURN_RUNBOOK}.md", "description": spec.description or spec.name}
    return RuleSource(
        service=spec.service, name=spec.name, objective_percent=round(spec.objective * 100, 10),
        labels={**spec.labels, "qtenancy_sli": spec.sli.value}, spec_version="qtenancy/v1", mode="cli-gen-qtenancy",
        alerting=SlothAlerting(
            name=spec.alert_name, annotations=annotations,
            page_alert=SlothAlert(labels={"severity": "page"}), ticket_alert=SlothAlert(labels={"severity": "ticket"}),
        ),
        error_query=error, total_query=total, min_events=spec.min_events,
        group_labels=() if spec.group_by is Grouping.PLATFORM else (spec.group_by.value,),
    )
