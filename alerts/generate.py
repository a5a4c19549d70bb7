"""Writing a deployment's alerting: Sloth-compatible SLO rules, the operational rules and Alertmanager's config.

``plan`` says what every spec becomes (rules, an analytical SLI, or both), and both ``slo validate`` and
``alerts generate`` read it, so what one promises the other writes. A spec that should give rules and cannot
fails the whole generation, as in Sloth; a qtenancy SLI computed from the jobs table only gives none by design.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alerts.alertmanager import Receivers, alertmanager_config
from alerts.native_sli import AnalyticalOnly, NotGeneratable, rule_source
from alerts.operational import operational_group
from alerts.rule_files import HEADER, dump, dump_all, write
from alerts.sloth_plugins import Generation, groups, slo_rules
from common.version import VERSION
from contract.alert_catalogue import RUNBOOK_BASE, BurnWindows
from slo.specs import RuleSource, SloSpec


@dataclass(frozen=True)
class Becomes:
    """What one spec becomes: Prometheus rules, an SLI computed from the jobs table, or both."""

    spec: SloSpec
    rules: RuleSource | None
    no_rules: str = ""
    """Why it gives no rules, when it gives none."""
    by_design: bool = False
    """It gives none because its SLI has no real-time signal, not because the spec cannot be translated."""

    def describe(self) -> str:
        analytical = f"analytical SLI {self.spec.sli.value}" if self.spec.sli else ""
        calendar = self.spec.window.calendar
        rolling = (f"; its rules burn over a rolling {self.spec.window.seconds / 86400:g}d period, as Prometheus "
                   f"rules cannot follow the calendar {calendar}") if calendar and self.rules is not None else ""
        if self.rules is not None and analytical:
            return f"rules and {analytical}{rolling}"
        if self.rules is not None:
            return (f"rules only ({self.spec.not_computable})" if self.spec.not_computable else "rules only") + rolling
        if self.by_design:
            return f"{analytical} only (no rules: {self.no_rules})"
        return f"{analytical} only; alerts generate refuses it: {self.no_rules}"


class NoRules(ValueError):
    """A spec that should give rules gives none, or nothing asked for gives a rule; the message says why for
    each spec."""


def plan(specs: list[SloSpec], runbook_base: str = RUNBOOK_BASE) -> list[Becomes]:
    outcomes = []
    for spec in specs:
        try:
            outcomes.append(Becomes(spec, rule_source(spec, runbook_base)))
        except NotGeneratable as exc:
            outcomes.append(Becomes(spec, None, str(exc), isinstance(exc, AnalyticalOnly)))
    return outcomes


@dataclass(frozen=True)
class Written:
    paths: list[Path]
    skipped: list[str]
    """Why a spec gave no rules (its SLI is computed from the jobs table only)."""


def prometheus_rule_objects(sources: list[RuleSource], generation: Generation) -> list[dict]:
    """A ``PrometheusRule`` for every Sloth ``PrometheusServiceLevel``, named and labelled like it, as Sloth writes."""
    objects: dict[tuple[str, str], dict] = {}
    for source in sources:
        meta = source.kubernetes
        if meta is None:
            continue
        key = (meta.namespace, meta.name)
        if key not in objects:
            labels = {**meta.labels, "app.kubernetes.io/component": "SLO", "app.kubernetes.io/managed-by": "sloth"}
            metadata = {**({"annotations": dict(sorted(meta.annotations.items()))} if meta.annotations else {}),
                        "labels": dict(sorted(labels.items())), "name": meta.name,
                        **({"namespace": meta.namespace} if meta.namespace else {})}
            objects[key] = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": metadata,
                            "spec": {"groups": []}}
        objects[key]["spec"]["groups"] += slo_rules(source, generation).groups(source)
    return list(objects.values())


def write_alerting(specs: list[SloSpec], out: Path, windows: BurnWindows, extra: dict[str, str], runbook_base: str,
                   receivers: Receivers) -> Written:
    """``rules/slo-rules.yaml``, ``rules/operational-rules.yaml`` and ``alertmanager.yml`` under ``out``, and
    ``kubernetes/prometheus-rules.yaml`` when a spec is a Sloth ``PrometheusServiceLevel``; NoRules (and nothing
    written) when no spec gives a rule, or when one cannot be translated."""
    outcomes = plan(specs, runbook_base)
    sources = [o.rules for o in outcomes if o.rules is not None]
    skipped = [o.no_rules for o in outcomes if o.rules is None]
    if not sources:
        raise NoRules("no spec gives a rule: " + "; ".join(skipped) if specs else "no SLO in the files given")
    if untranslated := [o.no_rules for o in outcomes if o.rules is None and not o.by_design]:
        raise NoRules("these specs give no rule, so none were written: " + "; ".join(untranslated))
    generation = Generation(windows, extra, VERSION)
    paths = [
        write(out / "rules" / "slo-rules.yaml", dump({"groups": groups(sources, generation)}, HEADER)),
        write(out / "rules" / "operational-rules.yaml", dump({"groups": [operational_group(runbook_base)]}, HEADER)),
        write(out / "alertmanager.yml", dump(alertmanager_config(receivers))),
    ]
    if objects := prometheus_rule_objects(sources, generation):
        paths.append(write(out / "kubernetes" / "prometheus-rules.yaml", dump_all(objects, HEADER)))
    return Written(paths, skipped)
