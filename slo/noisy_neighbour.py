"""Noisy-neighbour attribution (SLI M9), after Google's CPI² adapted to shared control electronics.

CPI² finds an antagonist by relating a victim's slowdown to each candidate's usage while they co-run. Here a
victim is a result on a backend, its slowdown its excess error (``slo.residuals``), and a candidate is a
tenant's workload running on another backend of the same control group; its usage is how much of the
victim's execution it overlapped (0 to 1 per backend it ran on). Over a trailing window, a weighted
least-squares slope of the victims' excess error on that overlap (with a linear trend in time beside it)
says how much worse results come out while the candidate runs beside them than while it does not.

Every backend has some crosstalk, so a slope is judged against what co-running usually costs there: a
candidate present most of the time against its own usual slope (so a tenant that is always busy is judged
by its own history, and caught when its drive changes), any other against the other candidates' slopes in
windows without it (so neither the candidate nor what its running does to the others sets its yardstick).
The margin must clear a floor (``effect``), the spread of those slopes and the window's standard error, and
the candidate must add a material excess to its victims on average (``impact``). Neither relative activity
nor a correlation over the whole run is needed, so a mild flood is found as surely as a strong one.

A tenant without workload names is one candidate; the suspect is always named by tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from contract.durations import parse_duration
from slo.residuals import MAD_TO_SD, residuals

UNIT = ("suspect", "suspect_workload")
EXPOSED = 0.5
"""A result that ran at least half beside a candidate is exposed to it."""


@dataclass(frozen=True)
class NeighbourParameters:
    every: str = "10m"
    window: str = "1h"
    effect: float = 0.10
    """The least extra excess error per unit of overlap, above the usual, that counts as a noisy neighbour: errors
    10% above the calibration's while the candidate runs alongside. Relative excess is smaller on a noisier
    device for the same crosstalk: 0.15 missed a mild flood beside a 27-qubit Falcon (falcon-racks-mixed-faults),
    while the calm scenarios, three seeds each, raise nothing down to 0.08."""
    spread: float = 6.0
    significance: float = 10.0
    """Standard errors the slope must clear: results in one window share a calibration and its drift, so their
    errors are not independent and the nominal standard error understates the slope's uncertainty."""
    impact: float = 0.04
    """The excess error a suspect adds to its victims on average (its effect times its mean overlap)."""
    min_jobs: int = 10
    min_exposed: int = 10
    """Exposed results a window needs before a candidate can be judged in it."""
    regular: float = 0.5
    """A candidate judgeable in this share of a backend's bins is judged against its own usual slope there."""
    chain_gap: str = "2h"
    """Alarms of one candidate this close are one episode: while a flood saturates its backend, the overlap stops
    varying and windows cannot be judged, though the harm goes on."""


def _executions(jobs: pl.LazyFrame) -> pl.LazyFrame:
    """Every execution in a control group, numbered in start order on its backend (one job at a time runs there)."""
    return (
        jobs.filter(pl.col("execute_start").is_not_null(), pl.col("execute_end") > pl.col("execute_start"),
                    pl.col("tenant").is_not_null(), pl.col("control_group").is_not_null())
        .select("control_group", other="backend", suspect="tenant",
                suspect_workload=pl.col("workload").fill_null(""), began="execute_start", ended="execute_end")
        .sort("other", "began")
        .with_columns(index=pl.int_range(pl.len(), dtype=pl.Int64).over("other"))
    )


def exposures(jobs: pl.LazyFrame, errors: pl.LazyFrame) -> pl.LazyFrame:
    """Per result (of ``slo.residuals``) and each candidate that overlapped it on another backend of its control
    group: the share of the result's execution it overlapped. Only overlaps are listed: a candidate not listed
    for a result overlapped none of it."""
    executions = _executions(jobs)
    others = executions.select("control_group", "other").unique()
    pairs = (
        errors.filter(pl.col("execute_end") > pl.col("execute_start"), pl.col("control_group").is_not_null())
        .select("result", "backend", "control_group", "execute_start", "execute_end")
        .join(others, on="control_group").filter(pl.col("other") != pl.col("backend"))
    )
    numbered = executions.select("other", "began", "index")

    def running_at(frame: pl.LazyFrame, at: str, name: str) -> pl.LazyFrame:
        return frame.sort("other", at).join_asof(numbered.rename({"index": name}), left_on=at, right_on="began",
                                                 by="other", strategy="backward", check_sortedness=False).drop("began")

    spanned = running_at(running_at(pairs, "execute_start", "first"), "execute_end", "last")
    length = (pl.col("execute_end") - pl.col("execute_start")).dt.total_microseconds()
    overlap = pl.min_horizontal("execute_end", "ended") - pl.max_horizontal("execute_start", "began")
    return (
        spanned.filter(pl.col("last").is_not_null())
        .with_columns(index=pl.int_ranges(pl.col("first").fill_null(0), pl.col("last") + 1)).explode("index")
        .join(executions.drop("control_group"), on=["other", "index"])
        .with_columns(share=overlap.dt.total_microseconds() / length)
        .filter(pl.col("share") > 0)
        .group_by("result", "backend", *UNIT)
        .agg(overlap=pl.col("share").sum())
    )


def slopes(errors: pl.LazyFrame, exposed: pl.LazyFrame,
           params: NeighbourParameters = NeighbourParameters()) -> pl.LazyFrame:
    """Per victim backend, candidate and bin: over the trailing window, the weighted least-squares slope of excess
    error on overlap with a linear trend in time beside it (so a drift that happens to grow while a candidate
    gets busier is not laid at its door), the slope's standard error, the candidate's mean overlap, and in how many
    bins the backend returned results at all (``observed``).

    Sums that do not involve the overlap are taken over every result of the backend, the rest only over the
    results a candidate overlapped (its overlap is zero for all others), so the work grows with the results,
    not with results times candidates."""
    hours = (pl.col("execute_start") - pl.col("execute_start").min().over("backend")).dt.total_seconds() / 3600
    w, x, t, v = pl.col("weight"), pl.col("overlap"), pl.col("t"), pl.col("excess")
    bin_of = pl.col("execute_start").dt.truncate(params.every).alias("bin")
    results = errors.with_columns(t=hours)
    totals = {"n": pl.len(), "w": w.sum(), "wt": (w * t).sum(), "wv": (w * v).sum(), "wtt": (w * t * t).sum(),
              "wtv": (w * t * v).sum(), "wvv": (w * v * v).sum()}
    shared = {"sx": x.sum(), "exposed": (x >= EXPOSED).sum(), "wx": (w * x).sum(), "wxx": (w * x * x).sum(),
              "wxt": (w * x * t).sum(), "wxv": (w * x * v).sum()}
    backend = (
        results.group_by("backend", "control_group", bin_of).agg(**totals).sort("backend", "bin")
        .with_columns(pl.col(*totals).rolling_sum_by("bin", window_size=params.window).over("backend"),
                      observed=pl.len().over("backend"))
    )
    candidate = (
        exposed.join(results, on=["result", "backend"])
        .group_by("backend", *UNIT, bin_of).agg(**shared).sort("backend", *UNIT, "bin")
        .with_columns(exposed_in_bin="exposed")
        .with_columns(pl.col(*shared).rolling_sum_by("bin", window_size=params.window).over("backend", *UNIT))
    )

    def centred(a: str, b: str) -> pl.Expr:
        return pl.col(f"w{a}{b}") - pl.col(f"w{a}") * pl.col(f"w{b}") / pl.col("w")

    xx, tt, xt, xv, tv, vv = (centred(a, b) for a, b in ("xx", "tt", "xt", "xv", "tv", "vv"))
    det = xx * tt - xt**2
    slope, trend = (xv * tt - xt * tv) / det, (tv * xx - xt * xv) / det
    residual = vv - pl.col("slope") * xv - pl.col("trend") * tv
    judgeable = (pl.col("n") > params.min_jobs) & (pl.col("exposed") >= params.min_exposed) \
        & (det > 1e-9 * (xx * tt).abs())
    return (
        candidate.join(backend, on=["backend", "bin"])
        .with_columns(judgeable=judgeable, slope=slope, trend=trend, mean_overlap=pl.col("sx") / pl.col("n"),
                      tt=tt, det=det)
        .with_columns(se=(residual.clip(lower_bound=0.0) / (pl.col("n") - 3) * pl.col("tt") / pl.col("det")).sqrt())
        .drop("tt", "det")
    )


def _reference(windows: pl.LazyFrame, judgeable: pl.LazyFrame) -> pl.LazyFrame:
    """Per backend and candidate, what co-running usually costs there when that candidate is not running: the
    median and spread of every other candidate's slopes in windows without it (0 when there are none), so
    neither the candidate itself nor what its own running does to the others' slopes sets its yardstick."""
    present = windows.filter(pl.col("exposed") > 0).select("backend", *UNIT, "bin")
    centre = pl.col("other_slope").median()
    candidates = windows.select("backend", *UNIT).unique()
    return (
        candidates
        .join(judgeable.select("backend", "bin", other=pl.struct(*UNIT), other_slope="slope"), on="backend")
        .filter(pl.col("other") != pl.struct(*UNIT))
        .join(present, on=["backend", *UNIT, "bin"], how="anti")
        .group_by("backend", *UNIT)
        .agg(typical=centre.clip(lower_bound=0.0), spread=(pl.col("other_slope") - centre).abs().median() * MAD_TO_SD)
        .join(candidates, on=["backend", *UNIT], how="right")
        .with_columns(pl.col("typical", "spread").fill_null(0.0))
    )


def _alarms(windows: pl.LazyFrame, params: NeighbourParameters) -> pl.LazyFrame:
    """The windows in which a candidate's slope stood out from what co-running usually costs there (``alarm``),
    grouped into episodes per victim backend and candidate. An episode runs on through windows in which the
    candidate kept running beside most victims: a flood that saturates its backend leaves no overlap to vary,
    so no window can be judged, though the harm goes on."""
    width = timedelta(seconds=parse_duration(params.every))
    judgeable = windows.filter("judgeable")
    own = pl.col("slope").median().over("backend", *UNIT)
    usual = pl.when("regular").then(own.clip(lower_bound=0.0)).otherwise("typical")
    spread = pl.when("regular").then((pl.col("slope") - own).abs().median().over("backend", *UNIT) * MAD_TO_SD) \
        .otherwise("spread")
    effect = pl.col("slope") - pl.col("usual")
    margin = pl.max_horizontal(pl.lit(params.effect), params.spread * spread, params.significance * pl.col("se"))
    gap = timedelta(seconds=parse_duration(params.chain_gap))
    judged = (
        judgeable.join(_reference(windows, judgeable), on=["backend", *UNIT])
        .with_columns(regular=pl.len().over("backend", *UNIT) >= params.regular * pl.col("observed"))
        .with_columns(usual=usual)
        .with_columns(alarm=(effect > margin) & (effect * pl.col("mean_overlap") >= params.impact))
        .select("backend", *UNIT, "bin", "alarm", "usual")
    )
    run = ((pl.col("bin") - pl.col("bin").shift(1)) > pl.when(pl.col("alarm")).then(gap).otherwise(width)) \
        .fill_null(True).cum_sum().over("backend", *UNIT)
    return (
        windows.join(judged, on=["backend", *UNIT, "bin"], how="left")
        .with_columns(pl.col("alarm").fill_null(False))
        .filter(pl.col("alarm") | (pl.col("mean_overlap") >= EXPOSED))
        .sort("backend", *UNIT, "bin")
        .with_columns(episode=run)
        .filter(pl.col("alarm").cum_max().over("backend", *UNIT, "episode"))
    )


def _episodes(windows: pl.LazyFrame, params: NeighbourParameters) -> pl.DataFrame:
    """Per victim backend, candidate and episode: when its running began (the first exposed bin of the window
    that first stood out), when that window closed (detection), when the episode ended, and the evidence."""
    width = timedelta(seconds=parse_duration(params.every))
    window = timedelta(seconds=parse_duration(params.window))
    raised = pl.col("alarm")
    found = (
        _alarms(windows, params).group_by("backend", "control_group", *UNIT, "episode")
        .agg(first_alarm=pl.col("bin").filter(raised).min(), end=pl.col("bin").max() + width,
             effect=(pl.col("slope") - pl.col("usual")).filter(raised).max(),
             usual_effect=pl.col("usual").filter(raised).first(),
             t_value=((pl.col("slope") - pl.col("usual")) / pl.col("se")).filter(raised).max(),
             mean_overlap=pl.col("mean_overlap").filter(raised).mean())
    )
    began = (
        found.join(windows.filter(pl.col("exposed_in_bin") > 0).select("backend", *UNIT, "bin"), on=["backend", *UNIT])
        .filter(pl.col("bin") > pl.col("first_alarm") - window, pl.col("bin") <= pl.col("first_alarm"))
        .group_by("backend", *UNIT, "episode").agg(start=pl.col("bin").min())
    )
    return found.join(began, on=["backend", *UNIT, "episode"]).with_columns(
        detected_at=pl.col("first_alarm") + width).collect()


def attribute(jobs: pl.LazyFrame, params: NeighbourParameters = NeighbourParameters(),
              errors: pl.LazyFrame | None = None) -> pl.DataFrame:
    """Findings: per victim tenant, backend and episode, the suspect tenant (its workload and the backends it
    ran on), when it began, was detected and ended, and the evidence. ``errors`` are the jobs' residuals when
    the caller has them already."""
    errors = residuals(jobs).collect().lazy() if errors is None else errors
    exposed = exposures(jobs, errors).collect().lazy()
    episodes = _episodes(slopes(errors, exposed, params), params)
    if episodes.is_empty():
        return _empty()
    keys = ["backend", *UNIT, "episode"]
    spans = episodes.lazy().select(*keys, "control_group", "start", "end")
    hurt = (
        exposed.filter(pl.col("overlap") >= EXPOSED)
        .join(errors.select("result", "backend", "tenant", "execute_start", "excess"), on=["result", "backend"])
        .join(spans.drop("control_group"), on=["backend", *UNIT])
        .filter(pl.col("execute_start").is_between(pl.col("start"), pl.col("end")), pl.col("tenant") != pl.col("suspect"))
        .group_by(*keys, victim="tenant")
        .agg(jobs=pl.len(), excess=pl.col("excess").mean())
    )
    ran_on = (
        _executions(jobs).join(spans, on=["control_group", *UNIT])
        .filter(pl.col("other") != pl.col("backend"), pl.col("ended") > pl.col("start"), pl.col("began") < pl.col("end"))
        .group_by(keys).agg(suspect_backends=pl.col("other").unique().sort())
    )
    return (
        episodes.lazy().join(hurt, on=keys).join(ran_on, on=keys)
        .group_by("victim", "backend", "control_group", "suspect", "start")
        .agg(pl.col("detected_at").min(), pl.col("end").max(), pl.col("suspect_workload").sort().first(),
             pl.col("suspect_backends").list.explode(keep_nulls=False, empty_as_null=False).unique().sort(),
             pl.col("effect").max(), pl.col("usual_effect").first(), pl.col("t_value").max(),
             pl.col("mean_overlap").max(), pl.col("excess").mean(), pl.col("jobs").sum())
        .select("victim", "backend", "control_group", "start", "detected_at", "end", "suspect",
                pl.col("suspect_workload").replace("", None), "suspect_backends", "effect", "usual_effect",
                "t_value", "mean_overlap", "excess", "jobs")
        .sort("start", "victim", "backend", "suspect")
        .collect()
    )


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={
        "victim": pl.String, "backend": pl.String, "control_group": pl.String,
        "start": pl.Datetime("us", "UTC"), "detected_at": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC"),
        "suspect": pl.String, "suspect_workload": pl.String, "suspect_backends": pl.List(pl.String),
        "effect": pl.Float64, "usual_effect": pl.Float64,
        "t_value": pl.Float64, "mean_overlap": pl.Float64, "excess": pl.Float64, "jobs": pl.UInt32,
    })
