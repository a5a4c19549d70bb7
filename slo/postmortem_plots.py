"""The postmortem's plots, as PNG bytes: error-budget burn, fidelity against calibration, queue length, and
the impact per tenant. Rendered with matplotlib's Agg backend without a timestamp, so the same facts give
the same bytes; a plot with nothing to show is left out rather than drawn empty. Time axes are in UTC and
say so; a stretch without data (a backend out of rotation) is left as a gap, not bridged by a line; labels
go in the legend, where they cannot collide with the title or the data.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import matplotlib.dates as mdates
import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from contract.alert_catalogue import default_burn_windows
from contract.durations import format_duration
from slo.burn_rate import burn_rates
from slo.catalogue import CATALOGUE
from slo.postmortem import REASONS, Postmortem
from slo.sli import NotComputable, events
from slo.specs import SloSpec

BIN = "10m"
MAX_SERIES = 6
BURN_CEILING = 1000.0
"""Burn rates of 100% objectives are infinite on any bad event; they are drawn at this ceiling."""


@dataclass(frozen=True)
class Plot:
    name: str
    title: str
    png: bytes


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _figure(title: str, start: datetime, end: datetime):
    """A time plot; its margins are fixed (the tick labels are dates and numbers of known width), since a layout
    engine draws every figure twice, which was a fifth of a postmortem's time."""
    figure = Figure(figsize=(10, 3.6))
    axes = figure.subplots()
    figure.subplots_adjust(left=0.075, right=0.985, top=0.91, bottom=0.27)
    axes.set_title(title, loc="left", fontsize=11)
    axes.set_xlim(start, end)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=UTC))
    axes.set_xlabel("time (UTC)")
    axes.grid(alpha=0.3)
    figure.autofmt_xdate(bottom=0.27)
    return figure, axes


def _window(pm: Postmortem) -> tuple[datetime, datetime]:
    pad = max((pm.scope.end - pm.scope.start) * 0.1, timedelta(hours=1))
    return pm.scope.start - pad, pm.scope.end + pad


def _shade(axes, pm: Postmortem) -> None:
    for row in pm.incidents.iter_rows(named=True):
        axes.axvspan(row["start"], row["resolved_at"], color="tab:red", alpha=0.08)


def burn_plot(pm: Postmortem, specs: list[SloSpec]) -> Plot | None:
    """The burn of the SLOs that page on burn rate, against their page thresholds."""
    if pm.budget.is_empty():
        return None
    start, end = _window(pm)
    figure, axes = _figure("Error-budget burn rate (1 h window)", start, end)
    drawn = 0
    by_name = {s.name: s for s in specs}
    alerting = pm.budget.filter(pl.col("slo").is_in([s.name for s in specs if s.sli and not CATALOGUE[s.sli].no_burn_alerts]))
    for row in alerting.head(MAX_SERIES).iter_rows(named=True):
        spec = by_name[row["slo"]]
        try:
            rates = burn_rates(events(spec, pm.tables, end).filter(pl.col("group") == row["group"]), spec.objective, start, end)
        except NotComputable:
            continue
        burn = rates["burn_1h"].clip(upper_bound=BURN_CEILING)
        axes.plot(rates["at"].to_list(), burn.to_list(), label=f"{row['slo']} ({row['group']})", linewidth=1.2)
        drawn += 1
    if not drawn:
        return None
    windows = default_burn_windows()
    for alert, style in ((windows.page_quick, "--"), (windows.page_slow, ":")):
        factor = alert.factor(windows.period_seconds)
        axes.axhline(factor, color="tab:red", linestyle=style, linewidth=0.9,
                     label=f"page threshold {format_duration(alert.long_seconds)}/"
                           f"{format_duration(alert.short_seconds)}: {factor:g}")
    axes.set_yscale("symlog", linthresh=1)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axes.set_ylim(bottom=0)
    axes.set_ylabel("burn rate")
    _shade(axes, pm)
    axes.legend(fontsize=8, loc="upper right")
    return Plot("burn", "Error-budget burn", _png(figure))


def fidelity_plot(pm: Postmortem) -> Plot | None:
    start, end, tables = *_window(pm), pm.tables
    scoped = tables.jobs.filter(pl.col("execute_start").is_between(start, end), pl.col("measured_fidelity").is_not_null())
    if pm.backends:
        scoped = scoped.filter(pl.col("backend").is_in(pm.backends))
    measured = (
        scoped.group_by("backend", pl.col("execute_start").dt.truncate(BIN).alias("bin"))
        .agg(measured=pl.col("measured_fidelity").mean(), predicted=pl.col("predicted_fidelity").mean())
    )
    every_bin = pl.LazyFrame().select(bin=pl.datetime_range(pl.lit(start).dt.truncate(BIN), pl.lit(end), BIN,
                                                            time_unit="us", time_zone="UTC"))
    bins = (
        measured.select("backend").unique().join(every_bin, how="cross")
        .join(measured, on=["backend", "bin"], how="left")
        .sort("backend", "bin")
        .collect()
    )
    if bins["measured"].is_null().all():
        return None
    figure, axes = _figure("Fidelity: measured (solid) against calibration's prediction (dashed)", start, end)
    backends = bins["backend"].unique().sort().to_list()[:MAX_SERIES]
    for index, (backend, series) in enumerate(bins.filter(pl.col("backend").is_in(backends)).group_by("backend", maintain_order=True)):
        colour = f"C{index}"
        times = series["bin"].to_list()
        axes.plot(times, series["measured"].fill_null(float("nan")).to_list(), color=colour,
                  label=f"{backend[0]} measured", linewidth=1.2)
        axes.plot(times, series["predicted"].fill_null(float("nan")).to_list(), color=colour, linestyle="--",
                  linewidth=0.9, label=f"{backend[0]} predicted")
    runs = tables.calibrations.filter(pl.col("ended_at").is_between(start, end), pl.col("backend").is_in(backends)).collect()
    for row in runs.iter_rows(named=True):
        axes.axvline(row["ended_at"], color="tab:red" if row["verdict"] == "fail" else "tab:green", alpha=0.5, linewidth=0.8)
    axes.set_ylabel("mean fidelity per 10 min")
    _shade(axes, pm)
    axes.legend(fontsize=8, loc="lower left", title="calibration runs: green pass, red fail", title_fontsize=8)
    return Plot("fidelity", "Fidelity and calibration", _png(figure))


def queue_plot(pm: Postmortem) -> Plot | None:
    """Jobs waiting for a backend, per tenant: +1 when a job joins the queue, -1 when it leaves."""
    start, end = _window(pm)
    waiting = pm.tables.jobs.filter(pl.col("queue_start") <= end, pl.coalesce("queue_end", pl.lit(end)) >= start,
                                 pl.col("tenant").is_not_null())
    if pm.tenants:
        waiting = waiting.filter(pl.col("tenant").is_in(pm.tenants))
    steps = pl.concat([
        waiting.select("tenant", at=pl.max_horizontal("queue_start", pl.lit(start)), change=pl.lit(1)),
        waiting.filter(pl.col("queue_end") <= end).select("tenant", at="queue_end", change=pl.lit(-1)),
    ]).sort("at", "tenant", "change", descending=[False, False, True]).with_columns(  # joins before leaves
        length=pl.col("change").cum_sum().over("tenant")).collect()
    if steps.is_empty():
        return None
    top = steps.group_by("tenant").agg(peak=pl.col("length").max()).sort("peak", "tenant", descending=[True, False])
    figure, axes = _figure("Queue length: jobs waiting for a backend", start, end)
    for tenant in top["tenant"].head(MAX_SERIES).to_list():
        series = steps.filter(pl.col("tenant") == tenant)
        axes.step(series["at"].to_list(), series["length"].to_list(), where="post", label=tenant, linewidth=1.1)
    axes.set_ylabel("jobs waiting")
    _shade(axes, pm)
    axes.legend(fontsize=8, loc="upper right")
    return Plot("queue", "Queue length", _png(figure))


def impact_plot(pm: Postmortem) -> Plot | None:
    if pm.affected.is_empty():
        return None
    rows = pm.affected.head(12)
    figure = Figure(figsize=(10, 0.5 * rows.height + 1.4), layout="constrained")
    axes = figure.subplots()
    axes.set_title("Affected jobs per tenant, by what went wrong (a job can count more than once)", loc="left", fontsize=11)
    left = [0] * rows.height
    for index, reason in enumerate(REASONS):
        values = rows[reason].to_list()
        axes.barh(rows["tenant"].to_list(), values, left=left, label=reason.replace("_", " "), color=f"C{index}")
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.invert_yaxis()
    axes.set_xlabel("jobs")
    axes.legend(fontsize=8, loc="lower right")
    axes.grid(alpha=0.3, axis="x")
    return Plot("impact", "Impact per tenant", _png(figure))


def all_plots(pm: Postmortem, specs: list[SloSpec]) -> list[Plot]:
    drawn = [burn_plot(pm, specs), fidelity_plot(pm), queue_plot(pm), impact_plot(pm)]
    return [plot for plot in drawn if plot is not None]
