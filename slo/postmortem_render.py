"""A postmortem as Markdown (plots beside it as PNG files) and as one self-contained HTML page.

The HTML is the Markdown rendered by markdown-it with the plots inlined as data URIs, so the two never
say different things and the page opens anywhere without its folder. The review sections follow the
blameless postmortem of the SRE book (summary, impact, root cause and trigger, detection, resolution,
timeline, what went well and wrong, where we got lucky, action items), with the questions that matter
for a shared quantum backend answered from the data where the data can answer them.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path

import polars as pl
from markdown_it import MarkdownIt

from common.readable import minutes
from contract.alert_catalogue import RUNBOOK_BASE, runbook_for
from contract.explore import logs_url, trace_url
from slo.postmortem import DEGRADED_RATIO, PROBLEMS, REASONS, Postmortem
from slo.postmortem_plots import Plot
from slo.report import markdown_table

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1d2329; }
h1 { font-size: 1.6em; border-bottom: 2px solid #c0392b; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
code { font-size: 12px; background: #f3f5f7; padding: 0 3px; }
img { max-width: 100%; border: 1px solid #d0d7de; margin: .4em 0; }
blockquote { color: #57606a; border-left: 4px solid #d0d7de; margin: 0; padding-left: 1em; }
"""


def _table(frame: pl.DataFrame) -> str:
    return "\n".join(markdown_table(frame))


def _with_ids(frame: pl.DataFrame, pm: Postmortem, *columns: str) -> pl.DataFrame:
    """Provenance and calibration IDs as code, so they read as identifiers and copy whole, each with links to
    its trace and its logs in Grafana's Explore over the postmortem's window."""
    window = (pm.scope.start, pm.scope.end)
    return frame.with_columns(
        pl.col(c).map_elements(lambda i: f"`{i}` [trace]({trace_url(i, window)}) [logs]({logs_url(i, window)})",
                               return_dtype=pl.String).alias(c)
        for c in columns if c in frame.columns
    )


def _runbook(alert: str) -> str:
    return f"[{runbook_for(alert)}]({RUNBOOK_BASE}/{runbook_for(alert)}.md)"


def summary(pm: Postmortem) -> list[str]:
    found, affected = pm.incidents, pm.affected
    if found.is_empty():
        return ["No incident overlaps this window in this scope: nothing paged or ticketed, and no detector fired."]
    first = found.sort("detected_at").row(0, named=True)
    lines = [
        f"{found.height} incident(s) in this window ({', '.join(found['incident'].to_list())}). Impact began "
        f"{first['start']:%Y-%m-%d %H:%M} UTC; the first alert fired {minutes(first['minutes_to_detect'])} later "
        f"({', '.join(first['alerts'])}), and the impact ended {minutes(first['minutes_to_resolve'])} after detection.",
        "",
        f"{affected['affected'].sum():,} job(s) of {affected.height} tenant(s) were affected"
        + (f" ({', '.join(affected['tenant'].fill_null('no tenant').to_list())})" if affected.height else "")
        + (f" on {', '.join(pm.backends)}" if pm.backends else "") + ".",
    ]
    if pm.aggressors:
        lines += ["", f"Cause: {', '.join(pm.aggressors)}, named by the noisy-neighbour detector; "
                      "its own jobs are not counted as affected."]
    if not pm.budget.is_empty():
        worst = pm.budget.row(0, named=True)
        lines += ["", f"Worst budget burn: SLO {worst['slo']} ({worst['group']}) spent {_share(worst['budget_burned'])} "
                      f"of its {worst['window']} error budget in this window."]
    return lines


def _percentages(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).map_elements(_share, return_dtype=pl.String) for c in columns if c in frame.columns)


def _share(value: float) -> str:
    return "all (the objective allows none)" if value == float("inf") else f"{value:.1%}"


def _questions(pm: Postmortem) -> list[str]:
    totals = {r: pm.affected[r].sum() if not pm.affected.is_empty() else 0 for r in REASONS}
    billed = pm.billing["billed_for_failed_seconds"].sum() if not pm.billing.is_empty() else 0.0
    return [
        f"- **Did the scheduler keep sending work to an unhealthy backend?** {pm.routed_after_detection:,} job(s) started "
        "on a backend after a calibration, drift or noisy-neighbour alert about it fired and before its impact ended.",
        f"- **Were tenants billed for results they could not use?** {billed:,.0f} backend-seconds were billed for "
        f"{totals['failed']:,} failed job(s); {totals['misbilled']:,} job(s) were billed other than the meter owes.",
        f"- **Could we see it?** {totals['telemetry_incomplete']:,} affected job(s) lack part of their trace.",
        f"- **Did fidelity hold?** {totals['degraded']:,} result(s) came in under {DEGRADED_RATIO:.0%} of the fidelity "
        f"the calibration predicted; {totals['starved']:,} job(s) waited over an hour.",
        "- Was the calibration in spec when jobs ran, and was its age what the policy allows?",
        "- Did the alert reach the right person, and did its runbook lead to the fix?",
        "- Should affected tenants be told, or credited?",
    ]


def markdown(pm: Postmortem, plots: list[Plot], image: Callable[[Plot], str]) -> str:
    lines = [f"# {pm.title}", "",
             f"> Window: {pm.scope.describe()}. Status: draft; the review sections are for the people involved.", "",
             "## Summary", "", *summary(pm), ""]
    lines += ["## Detection and resolution (M10)", "",
              "Time to detect runs from the first sign of impact to the first alert; time to resolve (M10) from the "
              "first alert to the end of the impact.", "",
              _table(pm.incidents.select(
                  "incident", "severity", "start", "detected_at", "resolved_at",
                  time_to_detect=pl.col("minutes_to_detect").map_elements(minutes, return_dtype=pl.String),
                  time_to_resolve=pl.col("minutes_to_resolve").map_elements(minutes, return_dtype=pl.String),
                  alerts="alerts", backends="backends",
              )), ""]
    lines += ["## Impact", "", "### Affected tenants", "",
              f"Jobs in scope, and those affected (reasons: failed, telemetry incomplete, misbilled, waited over an hour, "
              f"fidelity under {DEGRADED_RATIO:.0%} of prediction). Every affected job is listed in `affected_jobs.csv`.", "",
              _table(_with_ids(_percentages(pm.affected, "share"), pm, "first_job")), "",
              "### Error budget", "",
              "Bad events in the window, and the share of each SLO's error budget (over its whole window) they spent.", "",
              _table(_percentages(pm.budget, "objective", "budget_burned", "budget_remaining")), "",
              "### Billing", "",
              "For the jobs in scope that finished in the window: billed against what the meter owes for the traced "
              "execution, and what was billed for affected jobs that failed (backend-seconds).", "", _table(pm.billing), ""]
    lines += ["## Noisy-neighbour suspects", "", _table(pm.suspects), ""]
    lines += ["## Timeline", "", _table(_with_ids(pm.timeline, pm, "reference")), ""]
    lines += ["## Alerts and detector findings", "",
              _table(_with_ids(pm.signals.select("detected_at", "alert", "severity", "start", "end", "backends", "tenants",
                                                 "evidence", "first_job",
                                                 runbook=pl.col("alert").map_elements(_runbook, return_dtype=pl.String)),
                               pm, "first_job")), ""]
    if pm.faults is not None:
        lines += ["## Injected faults (emulator ground truth)", "",
                  "What the emulator injected in this window, and whether this incident found it: by a signal of "
                  "the fault's own kind, in its place, raised after it began.", "",
                  _table(pm.faults.select("fault", "kind", "fault_start", "fault_end", "backend", "tenant", "antagonist",
                                          "found", "found_by", "minutes_to_detect")), ""]
    lines += ["## Plots", ""]
    lines += [line for plot in plots for line in (f"![{plot.title}]({image(plot)})", "")] or ["(no data to plot)", ""]
    lines += ["## Review", "", "### Root cause and trigger", "", *root_cause(pm), ""]
    lines += ["### Questions for the review", "", *_questions(pm), ""]
    for heading in ("What went well", "What went wrong", "Where we got lucky"):
        lines += [f"### {heading}", "", "- ", ""]
    lines += ["### Action items", "", "| action | type (mitigate, prevent, detect) | owner | tracking |",
              "|---|---|---|---|", "|  |  |  |  |", ""]
    return "\n".join(lines)


def root_cause(pm: Postmortem) -> list[str]:
    """The cause once, with the finding that shows it; the other findings counted by kind, not repeated."""
    if pm.cause is None:
        return ["No detector finding in this window."]
    cause = pm.cause
    lines = [f"**{pm.problem} on {pm.place}** (to be confirmed by the review): first sign of impact "
             f"{cause['start']:%Y-%m-%d %H:%M} UTC, detected {cause['detected_at']:%H:%M} UTC by {cause['alert']} "
             f"(runbook: {_runbook(cause['alert'])}).", "", f"Evidence: {cause['evidence']}."]
    if pm.aggressors:
        lines += ["", f"The aggressor is {', '.join(pm.aggressors)}: the noisy-neighbour detector names it as the "
                      "suspect; its jobs are the cause, not the impact."]
    kinds = (
        pm.signals.group_by("signal").agg(findings=pl.len(), first=pl.col("start").min(), last=pl.col("end").max())
        .sort("first", "signal")
    )
    lines += ["", "All findings in these incidents, by kind (each one is in *Alerts and detector findings*):", ""]
    lines += [f"- {PROBLEMS[row['signal']]}: {row['findings']} finding(s), {row['first']:%Y-%m-%d %H:%M} to "
              f"{row['last']:%Y-%m-%d %H:%M} UTC" for row in kinds.iter_rows(named=True)]
    return lines


def _plot_file(plot: Plot) -> str:
    return f"plots/{plot.name}.png"


def to_html(pm: Postmortem, plots: list[Plot]) -> str:
    """The postmortem as one HTML file, its plots inlined as data URIs once the markdown is rendered (parsing
    the images' base64 as markdown would take longer than the rest of the document)."""
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown(pm, plots, _plot_file))
    for plot in plots:
        body = body.replace(f'src="{_plot_file(plot)}"',
                            f'src="data:image/png;base64,{base64.b64encode(plot.png).decode("ascii")}"')
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(pm.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")


def write(pm: Postmortem, plots: list[Plot], out: Path) -> dict[str, Path]:
    """postmortem.md, plots/*.png, postmortem.html and affected_jobs.csv under ``out``."""
    (out / "plots").mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "postmortem.md", "html": out / "postmortem.html", "jobs": out / "affected_jobs.csv"}
    for plot in plots:
        (out / "plots" / f"{plot.name}.png").write_bytes(plot.png)
    paths["markdown"].write_text(markdown(pm, plots, _plot_file) + "\n")
    paths["html"].write_text(to_html(pm, plots))
    pm.affected_jobs.write_csv(paths["jobs"], datetime_format="%Y-%m-%dT%H:%M:%S%.6fZ")
    return paths
