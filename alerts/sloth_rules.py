"""Sloth-compatible SLO rules: SLI error-ratio recordings for every window, the metadata recordings, and
multiwindow multi-burn-rate page and ticket alerts, with Sloth's rule names, labels and expressions.

Sloth (github.com/slok/sloth) is the reference; there is no Python Sloth, so this is ours. Numbers are
printed the way Go prints float64 (shortest round-trip digits), and burn factors are computed in Go's order
of operations, so the expressions match Sloth's to the digit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contract.alert_catalogue import BurnWindow, BurnWindows
from contract.durations import format_duration
from slo.specs import RuleSource, WindowAlerts, with_window

SUMMARY = "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected."
TITLE = "({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast."


def go_float(value: float) -> str:
    """Go's %v for a float64: the shortest digits that round-trip, no trailing '.0'."""
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign, digits = exponent[0] if exponent[0] in "+-" else "+", exponent.lstrip("+-")
        return f"{mantissa.removesuffix('.0')}e{sign}{digits.zfill(2)}"
    return text.removesuffix(".0")


def _sli_expr(source: RuleSource, window: str) -> str:
    if source.error_ratio_query:
        return f"({with_window(source.error_ratio_query, window)})"
    return f"({with_window(source.error_query, window)})\n/\n({with_window(source.total_query, window)})\n"


def labels(source: RuleSource, **more: str) -> dict[str, str]:
    """An SLO's rule labels: its own (extra labels merged in already) and Sloth's identifying ones, sorted."""
    return dict(sorted({**source.labels, "sloth_id": source.id, "sloth_service": source.service,
                        "sloth_slo": source.name, **more}.items()))


def selector(source: RuleSource) -> str:
    return f'{{sloth_id="{source.id}", sloth_service="{source.service}", sloth_slo="{source.name}"}}'


def period_from_fastest(windows: BurnWindows, source: RuleSource) -> str:
    """The period's SLI averaged over the page-quick short window's recordings, as Sloth's optimised rule is."""
    period = format_duration(windows.period_seconds)
    base = f"slo:sli_error:ratio_rate{format_duration(windows.page_quick.short_seconds)}{selector(source)}"
    return f"sum_over_time({base}[{period}])\n/ ignoring (sloth_window)\ncount_over_time({base}[{period}])\n"


def recorded_windows(source: RuleSource, windows: BurnWindows) -> list[float]:
    """Every window an alert reads the SLI over: the burn windows', and the lookback of each stated condition."""
    return sorted({*windows.sli_windows, *(c.lookback_seconds for c in source.conditions)})


def sli_recordings(source: RuleSource, windows: BurnWindows, optimised: bool = True) -> list[dict]:
    rules = []
    for seconds in [*recorded_windows(source, windows), windows.period_seconds]:
        window = format_duration(seconds)
        optimise = optimised and seconds == windows.period_seconds
        rules.append({"record": f"slo:sli_error:ratio_rate{window}",
                      "expr": period_from_fastest(windows, source) if optimise else _sli_expr(source, window),
                      "labels": labels(source, sloth_window=window)})
    return rules


def meta_recordings(source: RuleSource, windows: BurnWindows, version: str) -> list[dict]:
    objective = go_float(source.objective_percent / 100)
    by_id = selector(source)
    common = labels(source)
    period = format_duration(windows.period_seconds)
    fastest = format_duration(windows.page_quick.short_seconds)
    by_budget = "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({objective})", "labels": common},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{objective})", "labels": common},
        {"record": "slo:time_period:days", "expr": f"vector({go_float(windows.period_seconds / 86400)})", "labels": common},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{fastest}{by_id}\n{by_budget}slo:error_budget:ratio{by_id}\n",
         "labels": common},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{period}{by_id}\n{by_budget}slo:error_budget:ratio{by_id}\n",
         "labels": common},
        {"record": "slo:period_error_budget_remaining:ratio", "expr": f"1 - slo:period_burn_rate:ratio{by_id}",
         "labels": common},
        {"record": "sloth_slo_info", "expr": "vector(1)",
         "labels": labels(source, sloth_mode=source.mode, sloth_objective=go_float(source.objective_percent),
                          sloth_spec=source.spec_version, sloth_version=version)},
    ]


def _burning(source: RuleSource, seconds: float, speed: str, op: str = ">") -> str:
    """The SLI over one window compared with a burn rate: every burn alert's condition is made of these."""
    budget = go_float((100 - source.objective_percent) / 100)
    return (f"max(slo:sli_error:ratio_rate{format_duration(seconds)}{selector(source)} {op} ({speed} * {budget})) "
            "without (sloth_window)")


def _pair(source: RuleSource, windows: BurnWindows, window: BurnWindow) -> str:
    """One window pair: both windows burning, and the long one holding enough events when the spec guards it."""
    speed = go_float(window.factor(windows.period_seconds))
    return (f"(\n    {_burning(source, window.short_seconds, speed)}\n    and\n"
            f"    {_burning(source, window.long_seconds, speed)}{_enough_events(source, window.long_seconds)}\n)")


def _enough_events(source: RuleSource, seconds: float) -> str:
    """The low-traffic guard on one long window: its events (the total query's rate times its length, as
    ``increase`` counts them) at least ``min_events``; nothing at all when the spec sets no guard."""
    if not source.min_events:
        return ""
    total = with_window(source.total_query, format_duration(seconds))
    return (f"\n    and on({', '.join(source.group_labels)})\n    "
            f"(({total}) * {go_float(seconds)} >= {source.min_events})")


def _sloth_alerts(source: RuleSource, windows: BurnWindows) -> list[dict]:
    """Sloth's two alerts: page and ticket, each firing on either of its two window pairs."""
    alerting = source.alerting
    rules = []
    for severity, alert, quick, slow in (
        ("page", alerting.page_alert, windows.page_quick, windows.page_slow),
        ("ticket", alerting.ticket_alert, windows.ticket_quick, windows.ticket_slow),
    ):
        if alert.disable:
            continue
        rules.append({
            "alert": alerting.name,
            "expr": f"{_pair(source, windows, quick)}\nor\n{_pair(source, windows, slow)}\n",
            "labels": dict(sorted({**alerting.labels, **alert.labels, "sloth_severity": severity}.items())),
            "annotations": dict(sorted({"summary": SUMMARY, "title": TITLE.format(severity=severity),
                                        **alerting.annotations, **alert.annotations}.items())),
        })
    return rules


def _window_alerts(source: RuleSource, windows: BurnWindows, alerts: WindowAlerts) -> list[dict]:
    """Pyrra's alerts: one per window pair, each with its own severity, ``for`` and window labels; then one
    when a metric the SLI reads is absent."""
    rules = []
    for severity, window in zip(alerts.severities, windows.pairs if alerts.burn else ()):
        factor = window.factor(windows.period_seconds)
        rules.append({
            "alert": alerts.name,
            "expr": f"{_pair(source, windows, window)}\n",
            **({"for": format_duration(window.for_seconds)} if window.for_seconds else {}),
            "labels": labels(source, exhaustion=format_duration(int(windows.period_seconds / factor)),
                             long=format_duration(window.long_seconds), severity=severity,
                             short=format_duration(window.short_seconds), slo=source.name),
            "annotations": {"summary": SUMMARY, "title": TITLE.format(severity=severity)},
        })
    if (absent := alerts.absent) is not None:
        rules.append({"alert": absent.name, "expr": " or ".join(f"absent({s}) == 1" for s in absent.selectors),
                      "for": format_duration(absent.for_seconds),
                      "labels": labels(source, severity=absent.severity, slo=source.name),
                      "annotations": {"summary": f"a metric of SLO {source.name} is absent, so it has no value"}})
    return rules


def _condition_alerts(source: RuleSource) -> list[dict]:
    """The alerts the spec states: the burn rate over a lookback window compared with a threshold."""
    rules = []
    for condition in source.conditions:
        wait = {"for": format_duration(condition.for_seconds)} if condition.for_seconds else {}
        annotations = dict(sorted({"summary": SUMMARY, **condition.annotations}.items()))
        rules.append({"alert": condition.name, "expr": _burning(source, condition.lookback_seconds,
                                                                go_float(condition.threshold), condition.op),
                      **wait, "labels": dict(sorted(condition.labels.items())), "annotations": annotations})
        if condition.when_no_data:
            rules.append({"alert": f"{condition.name}NoData",
                          "expr": f"absent(slo:sli_error:ratio_rate{format_duration(condition.lookback_seconds)}"
                                  f"{selector(source)})",
                          **wait, "labels": dict(sorted(condition.labels.items())), "annotations": annotations})
    return rules


def burn_alerts(source: RuleSource, windows: BurnWindows) -> list[dict]:
    """The SLO's burn-rate alerts in the shape its format gives them."""
    if source.conditions:
        return _condition_alerts(source)
    if source.window_alerts is not None:
        return _window_alerts(source, windows, source.window_alerts)
    return _sloth_alerts(source, windows)


@dataclass
class RuleGroup:
    rules: list[dict] = field(default_factory=list)
    interval: float | None = None

    def as_group(self, name: str) -> dict:
        interval = {} if self.interval is None else {"interval": format_duration(self.interval)}
        return {"name": name, **interval, "rules": self.rules}


@dataclass
class SloRules:
    """What Sloth's plugin chain builds for one SLO, step by step: its SLI recordings, metadata and alerts."""

    sli: RuleGroup = field(default_factory=RuleGroup)
    meta: RuleGroup = field(default_factory=RuleGroup)
    alerts: RuleGroup = field(default_factory=RuleGroup)

    def groups(self, source: RuleSource) -> list[dict]:
        """Sloth's rule groups, the empty ones left out, with Sloth's group names."""
        named = (("sloth-slo-sli-recordings-", self.sli), ("sloth-slo-meta-recordings-", self.meta),
                 ("sloth-slo-alerts-", self.alerts))
        return [group.as_group(prefix + source.id) for prefix, group in named if group.rules]
