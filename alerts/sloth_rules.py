"""Sloth-compatible SLO rules: SLI error-ratio recordings for every window, the metadata recordings, and
multiwindow multi-burn-rate page and ticket alerts, with Sloth's rule names, labels and expressions.

Sloth (github.com/slok/sloth) is the reference; there is no Python Sloth, so this is ours. Numbers are
printed the way Go prints float64 (shortest round-trip digits), and burn factors are computed in Go's order
of operations, so the expressions match Sloth's to the digit.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.alert_catalogue import BurnWindow, BurnWindows
from contract.durations import format_duration
from slo.specs import RuleSource

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


def _selector(source: RuleSource) -> str:
    return f'{{sloth_id="{source.id}", sloth_service="{source.service}", sloth_slo="{source.name}"}}'


def _sli_expr(source: RuleSource, window: str) -> str:
    if source.error_ratio_query:
        return f"({source.error_ratio_query.replace('{{.window}}', window)})"
    error = source.error_query.replace("{{.window}}", window)
    total = source.total_query.replace("{{.window}}", window)
    return f"({error})\n/\n({total})\n"


def _labels(source: RuleSource, extra: dict[str, str], **more: str) -> dict[str, str]:
    return dict(sorted({**source.labels, **extra, "sloth_id": source.id, "sloth_service": source.service,
                        "sloth_slo": source.name, **more}.items()))


def sli_recordings(source: RuleSource, windows: BurnWindows, extra: dict[str, str]) -> dict:
    rules = []
    for seconds in windows.sli_windows:
        window = format_duration(seconds)
        rules.append({"record": f"slo:sli_error:ratio_rate{window}", "expr": _sli_expr(source, window),
                      "labels": _labels(source, extra, sloth_window=window)})
    period = format_duration(windows.period_seconds)
    base = f"slo:sli_error:ratio_rate{format_duration(windows.sli_windows[0])}{_selector(source)}"
    rules.append({
        "record": f"slo:sli_error:ratio_rate{period}",
        "expr": f"sum_over_time({base}[{period}])\n/ ignoring (sloth_window)\ncount_over_time({base}[{period}])\n",
        "labels": _labels(source, extra, sloth_window=period),
    })
    return {"name": f"sloth-slo-sli-recordings-{source.id}", "rules": rules}


def meta_recordings(source: RuleSource, windows: BurnWindows, extra: dict[str, str], version: str) -> dict:
    objective = go_float(source.objective_percent / 100)
    selector = _selector(source)
    labels = _labels(source, extra)
    period = format_duration(windows.period_seconds)
    fastest = format_duration(windows.sli_windows[0])
    by_budget = "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
    rules = [
        {"record": "slo:objective:ratio", "expr": f"vector({objective})", "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{objective})", "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({go_float(windows.period_seconds / 86400)})", "labels": labels},
        {"record": "slo:current_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{fastest}{selector}\n{by_budget}slo:error_budget:ratio{selector}\n",
         "labels": labels},
        {"record": "slo:period_burn_rate:ratio",
         "expr": f"slo:sli_error:ratio_rate{period}{selector}\n{by_budget}slo:error_budget:ratio{selector}\n",
         "labels": labels},
        {"record": "slo:period_error_budget_remaining:ratio", "expr": f"1 - slo:period_burn_rate:ratio{selector}",
         "labels": labels},
        {"record": "sloth_slo_info", "expr": "vector(1)",
         "labels": _labels(source, extra, sloth_mode=source.mode, sloth_objective=go_float(source.objective_percent),
                           sloth_spec=source.spec_version, sloth_version=version)},
    ]
    return {"name": f"sloth-slo-meta-recordings-{source.id}", "rules": rules}


def _burn_condition(source: RuleSource, windows: BurnWindows, quick: BurnWindow, slow: BurnWindow) -> str:
    budget = go_float((100 - source.objective_percent) / 100)
    selector = _selector(source)

    def side(window: BurnWindow) -> str:
        speed = go_float(window.factor(windows.period_seconds))

        def term(seconds: float) -> str:
            return (f"max(slo:sli_error:ratio_rate{format_duration(seconds)}{selector} > ({speed} * {budget})) "
                    "without (sloth_window)")

        guard = _enough_events(source, window.long_seconds)
        return f"(\n    {term(window.short_seconds)}\n    and\n    {term(window.long_seconds)}{guard}\n)"

    return f"{side(quick)}\nor\n{side(slow)}\n"


def _enough_events(source: RuleSource, seconds: float) -> str:
    """The low-traffic guard on one long window: its events (the total query's rate times its length, as
    ``increase`` counts them) at least ``min_events``; nothing at all when the spec sets no guard."""
    if not source.min_events:
        return ""
    total = source.total_query.replace("{{.window}}", format_duration(seconds))
    return (f"\n    and on({', '.join(source.group_labels)})\n    "
            f"(({total}) * {go_float(seconds)} >= {source.min_events})")


def alerts(source: RuleSource, windows: BurnWindows) -> dict | None:
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
            "expr": _burn_condition(source, windows, quick, slow),
            "labels": dict(sorted({**alerting.labels, **alert.labels, "sloth_severity": severity}.items())),
            "annotations": dict(sorted({"summary": SUMMARY, "title": TITLE.format(severity=severity),
                                        **alerting.annotations, **alert.annotations}.items())),
        })
    return {"name": f"sloth-slo-alerts-{source.id}", "rules": rules} if rules else None


@dataclass(frozen=True)
class Generation:
    windows: BurnWindows
    extra_labels: dict[str, str]
    version: str
    recordings: bool = True
    alerting: bool = True


def groups(sources: list[RuleSource], options: Generation) -> list[dict]:
    out = []
    for source in sources:
        if options.recordings:
            out.append(sli_recordings(source, options.windows, options.extra_labels))
            out.append(meta_recordings(source, options.windows, options.extra_labels, options.version))
        if options.alerting and (group := alerts(source, options.windows)) is not None:
            out.append(group)
    return out
