"""Sloth's SLO plugin chain, run as Sloth runs it: each plugin is a step over one SLO's rules.

The order is Sloth's: the SLO's plugins of negative priority, then Sloth's four defaults (unless a chain
says ``overridePrevious``), then the rest, each part stably sorted by priority. Which plugins exist and what
they read is in ``slo/spec_formats/sloth_plugins.py``; what each one does to the rules is here, read from
the plugin of the same id in Sloth's source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from alerts.sloth_rules import (
    SloRules,
    burn_alerts,
    labels,
    meta_recordings,
    period_from_fastest,
    selector,
    sli_recordings,
)
from contract.alert_catalogue import BurnWindows
from contract.durations import format_duration
from slo.spec_formats import sloth_plugins as ids
from slo.specs import PluginStep, RuleSource, with_window

Step = Callable[[RuleSource, BurnWindows, SloRules], None]


@dataclass(frozen=True)
class Generation:
    windows: BurnWindows
    extra_labels: dict[str, str]
    version: str
    recordings: bool = True
    alerting: bool = True


def _unchanged(source: RuleSource, windows: BurnWindows, rules: SloRules) -> None:
    """Validation (qtenancy checks a spec's fields when it reads it, and does not parse PromQL or MetricsQL),
    debug logging and noop: the rules stay as they are."""


def _denominator_corrected(config: ids.SliRulesConfig) -> Step:
    """Each window's error ratio weighted by that window's share of the period's traffic, and the share
    itself recorded as ``slo:numerator_correction:ratio<window>`` (Sloth's denominator_corrected_rules)."""

    def step(source: RuleSource, windows: BurnWindows, rules: SloRules) -> None:
        period = format_duration(windows.period_seconds)
        recordings = []
        for seconds in [*windows.sli_windows, windows.period_seconds]:
            window = format_duration(seconds)
            if seconds != windows.period_seconds:
                expr = (f"(\nslo:numerator_correction:ratio{window}{selector(source)}\n* on()\n"
                        f"{with_window(source.error_query, window)}\n)\n/\n({with_window(source.total_query, window)})\n")
            elif config.disable_optimized:
                expr = f"({with_window(source.error_query, window)})\n/\n({with_window(source.total_query, window)})\n"
            else:
                expr = period_from_fastest(windows, source)
            recordings.append({"record": f"slo:sli_error:ratio_rate{window}", "expr": expr,
                               "labels": labels(source, sloth_window=window)})
        rules.sli.rules = recordings
        rules.meta.rules = rules.meta.rules + [
            {"record": f"slo:numerator_correction:ratio{format_duration(seconds)}",
             "expr": f"({with_window(source.total_query, format_duration(seconds))})/"
                     f"({with_window(source.total_query, period)})",
             "labels": labels(source)}
            for seconds in windows.sli_windows
        ]

    return step


def _info_labels(config: ids.InfoLabelsConfig) -> Step:
    def step(source: RuleSource, windows: BurnWindows, rules: SloRules) -> None:
        for rule in rules.meta.rules:
            if rule.get("record") == config.metric_name:
                rule["labels"] = dict(sorted({**rule["labels"], **config.labels}.items()))
                break

    return step


def _rule_intervals(config: ids.RuleIntervalsConfig) -> Step:
    def step(source: RuleSource, windows: BurnWindows, rules: SloRules) -> None:
        every = config.interval
        rules.sli.interval = every.sli_error or every.default
        rules.meta.interval = every.metadata or every.default
        rules.alerts.interval = every.alert or every.default

    return step


def _step(plugin: PluginStep, version: str) -> Step:
    config = plugin.config
    match plugin.id:
        case ids.CORE_SLI_RULES:
            return lambda source, windows, rules: setattr(
                rules.sli, "rules", sli_recordings(source, windows, not config.disable_optimized))
        case ids.CORE_METADATA_RULES:
            return lambda source, windows, rules: setattr(rules.meta, "rules", meta_recordings(source, windows, version))
        case ids.CORE_ALERT_RULES:
            return lambda source, windows, rules: setattr(rules.alerts, "rules", burn_alerts(source, windows))
        case ids.DENOMINATOR_CORRECTED:
            return _denominator_corrected(config)
        case ids.INFO_LABELS:
            return _info_labels(config)
        case ids.RULE_INTERVALS:
            return _rule_intervals(config)
    return _unchanged


def _defaults(version: str) -> list[Step]:
    return [_step(PluginStep(i, 0, ids.CONFIGS[i]()), version) for i in
            (ids.CORE_VALIDATE, ids.CORE_SLI_RULES, ids.CORE_METADATA_RULES, ids.CORE_ALERT_RULES)]


def slo_rules(source: RuleSource, generation: Generation) -> SloRules:
    """One SLO's rules after its whole chain has run, over its own burn windows if its spec fixes them."""
    source = replace(source, labels={**source.labels, **generation.extra_labels})
    chain = sorted(source.plugins.steps, key=lambda p: p.priority)
    steps = [_step(p, generation.version) for p in chain if p.priority < 0]
    if not source.plugins.override_defaults:
        steps += _defaults(generation.version)
    steps += [_step(p, generation.version) for p in chain if p.priority >= 0]
    windows = source.burn_windows(generation.windows)
    rules = SloRules()
    for step in steps:
        step(source, windows, rules)
    if not generation.recordings:
        rules.sli.rules, rules.meta.rules = [], []
    if not generation.alerting:
        rules.alerts.rules = []
    return rules


def groups(sources: list[RuleSource], generation: Generation) -> list[dict]:
    """The rule groups of every SLO, in order."""
    return [group for source in sources for group in slo_rules(source, generation).groups(source)]
