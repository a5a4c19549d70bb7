"""The SLO report: for every spec and group, the SLI, the error budget, the burn rates now, the alert
episodes of the window, and when the budget runs out if the last day's burn holds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from common.readable import count, number, percent
from contract.alert_catalogue import default_burn_windows
from slo.burn_rate import alert_label, burn_column, burn_rates, episodes, exhaustion
from slo.sli import NotComputable, Tables, events, sli_table, window_start
from slo.specs import SloSpec, Window

NOW_BURNS = (3600, 6 * 3600, 86400, 3 * 86400)


@dataclass
class SloResult:
    spec: SloSpec
    window: Window
    rows: list[dict] = field(default_factory=list)
    not_computable: str = ""


def _finite(value):
    """JSON has no infinity: a burn rate against a zero budget (a 100% objective) is null, and the record
    says ``zero_budget``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate(specs: list[SloSpec], tables: Tables, as_of: datetime, window: Window | None = None) -> list[SloResult]:
    results = []
    for spec in specs:
        chosen = window or spec.window
        result = SloResult(spec, chosen)
        try:
            table = sli_table(spec, tables, as_of, chosen)
            rates = burn_rates(events(spec, tables, as_of), spec.objective, window_start(chosen, as_of), as_of,
                               min_events=spec.min_events)
        except NotComputable as exc:
            result.not_computable = str(exc)
            results.append(result)
            continue
        now = rates.filter(pl.col("at") == pl.col("at").max())
        pages, tickets = episodes(rates, "page"), episodes(rates, "ticket")
        for row in table.iter_rows(named=True):
            current = now.filter(pl.col("group") == row["group"])
            burns = {burn_column(w): (current[burn_column(w)].item() if current.height else 0.0) for w in NOW_BURNS}
            runs_out = exhaustion(row["budget_remaining"], burns[burn_column(86400)], chosen.seconds, as_of)
            result.rows.append({
                **row,
                **burns,
                "page_now": bool(current["page"].item()) if current.height else False,
                "ticket_now": bool(current["ticket"].item()) if current.height else False,
                "page_episodes": pages.filter(pl.col("group") == row["group"]).height,
                "ticket_episodes": tickets.filter(pl.col("group") == row["group"]).height,
                "budget_exhausted_at": runs_out,
            })
        results.append(result)
    return results


def as_records(results: list[SloResult]) -> list[dict]:
    records = []
    for r in results:
        base = {"slo": r.spec.name, "service": r.spec.service, "sli": r.spec.sli.value if r.spec.sli else None,
                "objective": r.spec.objective, "window": r.window.label, "group_by": r.spec.group_by.value,
                "source": r.spec.source, "zero_budget": r.spec.objective >= 1.0}
        if r.not_computable:
            records.append({**base, "not_computable": r.not_computable})
        for row in r.rows:
            records.append({**base, **{k: _finite(v) for k, v in row.items()}})
    return records


def to_json(results: list[SloResult], as_of: datetime) -> str:
    return json.dumps({"as_of": as_of.isoformat(), "slos": as_records(results)}, indent=2, default=str, sort_keys=True) + "\n"


def _percent(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return percent(value, 2)


def _burn(value, zero_budget: bool) -> str:
    """A burn rate; against a zero budget, any bad event is a breach, whatever the rate."""
    if zero_budget:
        return "breached" if value is None else "0"
    return f"{value:,.2f}"


def rows_for_display(results: list[SloResult]) -> list[list[str]]:
    rows = []
    for record in as_records(results):
        if "not_computable" in record:
            rows.append([record["slo"], "-", "-", _percent(record["objective"]), "-", "-", "-", "-",
                         f"not computed: {record['not_computable']}"])
            continue
        exhausted = record["budget_exhausted_at"]
        state = "PAGE" if record["page_now"] else "ticket" if record["ticket_now"] else "ok" if record["met"] else "missed"
        rows.append([
            record["slo"], record["group"], count(record["total"]), _percent(record["objective"]), _percent(record["sli"]),
            "zero budget" + (", spent" if record["bad"] else "") if record["zero_budget"]
            else _percent(record["budget_remaining"]),
            _burn(record["burn_1h"], record["zero_budget"]), _burn(record["burn_1d"], record["zero_budget"]),
            state + (f"; budget out {exhausted:%Y-%m-%d %H:%M}" if isinstance(exhausted, datetime) else ""),
        ])
    return rows


HEADER = ["SLO", "group", "events", "objective", "SLI", "budget left", "burn 1h", "burn 1d", "state"]


def to_markdown(results: list[SloResult], as_of: datetime) -> str:
    lines = [f"# SLO report as of {as_of.isoformat()}", "", "| " + " | ".join(HEADER) + " |",
             "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows_for_display(results)]
    windows = default_burn_windows()
    lines += ["", "Burn rates are error ratios over the window divided by the error budget ratio; alerts follow the "
              "SRE Workbook's multiwindow set: "
              + ", ".join(f"{alert_label(a)} > {a.factor(windows.period_seconds):g}" for a in windows.pairs) + "."]
    return "\n".join(lines) + "\n"


def data_end(tables: Tables) -> datetime:
    """The latest instant the tables know of: the natural 'now' of a finished run."""
    jobs = tables.jobs.select(pl.max_horizontal(pl.col("finished_at").max(), pl.col("submitted_at").max())).collect().item()
    calibrations = tables.calibrations.select(pl.col("ended_at").max()).collect().item()
    status = None if tables.backend_status is None else tables.backend_status.select(pl.col("at").max()).collect().item()
    latest = max(t for t in (jobs, calibrations, status) if t is not None)
    return latest.replace(second=0, microsecond=0) + timedelta(minutes=1)


@dataclass
class Analyses:
    """The analyses beside the SLO table: fairness (M7), billing (M6), reproducibility (M3), drift, M9."""

    shares: pl.DataFrame
    jain: float | None
    starvation: pl.DataFrame
    billing: pl.DataFrame
    repeats: pl.DataFrame
    drifts: pl.DataFrame
    incidents: pl.DataFrame

    def sections(self) -> dict[str, pl.DataFrame]:
        irreproducible = self.repeats.filter(pl.col("p_value") < 0.01)
        return {
            "fairness": self.shares.select(
                "tenant", "quota", "share", "share_minus_quota", "jobs", "median_wait_seconds", "longest_wait_seconds"
            ),
            "starvation": self.starvation.select("tenant", "start", "end", "minutes", "jobs", "first_job"),
            "billing": self.billing.select(
                "tenant", "jobs", "billed_seconds", "owed_seconds", "used_seconds", "under_billed_seconds",
                "over_billed_seconds", "misbilled_jobs",
            ),
            "reproducibility": self.repeats.group_by("tenant").agg(
                groups=pl.len(), irreproducible=(pl.col("p_value") < 0.01).sum(), median_runs=pl.col("runs").median()
            ).sort("tenant") if self.repeats.height else pl.DataFrame({"tenant": [], "groups": []}),
            "drift": self.drifts.select(
                "backend", "control_group", "onset", "detected_at", "detection_delay_minutes", "end", "peak_growth",
                "peak_level"
            ),
            "noisy_neighbours": self.incidents.select(
                "victim", "backend", "start", "detected_at", "end", "suspect", "suspect_workload", "effect",
                "usual_effect", "mean_overlap", "jobs"
            ),
            "irreproducible_groups": irreproducible.select("tenant", "backend", "circuit_hash", "runs", "p_value").head(20),
        }


def to_json_with(results: list[SloResult], analyses: Analyses, as_of: datetime) -> str:
    body = json.loads(to_json(results, as_of))
    body["jain_index"] = analyses.jain
    body.update({name: json.loads(frame.write_json()) for name, frame in analyses.sections().items()})
    return json.dumps(body, indent=2, sort_keys=True, default=str) + "\n"


def markdown_table(frame: pl.DataFrame) -> list[str]:
    if frame.is_empty():
        return ["(none)"]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "|".join("---" for _ in frame.columns) + "|"]
    for row in frame.iter_rows():
        lines.append("| " + " | ".join(format_cell(v).replace("|", "\\|") for v in row) + " |")
    return lines


def format_cell(value) -> str:
    if isinstance(value, float):
        return number(value)
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, list):
        return ", ".join(format_cell(v) for v in value)
    return "" if value is None else str(value)


def markdown_sections(analyses: Analyses) -> str:
    lines = []
    for name, frame in analyses.sections().items():
        title = name.replace("_", " ").capitalize()
        if name == "fairness" and analyses.jain is not None:
            title += f" (Jain's index {analyses.jain:.3f})"
        lines += ["", f"## {title}", "", *markdown_table(frame)]
    return "\n".join(lines) + "\n"
