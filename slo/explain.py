"""One job explained, as a tenant asks about it: what happened when, where it ran and why, and why its result
is or is not usable, and what it was billed against what the declared meter owes, in money.

``explain`` returns plain data (JSON-ready) that the command line, the HTTP API and a console all render;
a tenant viewer gets only its own jobs (any other provenance ID is "no such job") and sees every other
tenant as "another tenant".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import polars as pl

from contract.billing import (
    BILLING_TOLERANCE_SECONDS,
    BillingTerms,
    owed_seconds,
    with_meter,
)
from contract.semconv import STAGES, FailureReason, Outcome
from slo.postmortem import DEGRADED_RATIO
from slo.sli import Tables
from slo.viewer import ANOTHER_TENANT, Viewer

CAUSES = {
    FailureReason.BACKEND_DOWN.value: "outage: {backend} was down, so the job could not run there",
    FailureReason.PREPROCESS_TIMEOUT.value: "timeout: classical pre-processing ran past its time limit",
    FailureReason.POSTPROCESS_TIMEOUT.value: "timeout: post-processing of the counts ran past its time limit",
    FailureReason.RESERVATION_PREEMPTION.value: "preemption: {backend} was reserved by another tenant and the job was "
                                                "stopped",
}


@dataclass
class StageTime:
    stage: str
    start: datetime | None
    end: datetime | None
    seconds: float | None


@dataclass
class Explanation:
    provenance_id: str
    tenant: str
    lifecycle: list[StageTime]
    queue: dict
    placement: dict
    calibration: dict
    outcome: dict
    billing: dict
    causes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _job(tables: Tables, provenance_id: str, viewer: Viewer) -> pl.DataFrame:
    jobs = tables.jobs.filter(pl.col("provenance_id") == provenance_id)
    if not viewer.is_operator:
        jobs = jobs.filter(pl.col("tenant") == viewer.tenant)
    return jobs.head(1).collect()


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return (b - a).total_seconds() if a is not None and b is not None else None


def _co_running(tables: Tables, job: dict, viewer: Viewer) -> list[dict]:
    """Jobs on the other backends of the job's control group whose execution overlapped it, and for how much of
    it: crosstalk suspects. A tenant reads only the share of its job another tenant's work overlapped, never how
    many jobs that tenant ran or for how long."""
    if job["execute_start"] is None or job["execute_end"] is None or job["control_group"] is None:
        return []
    others = (
        tables.jobs.filter(pl.col("control_group") == job["control_group"], pl.col("backend") != job["backend"],
                           pl.col("execute_start") < job["execute_end"], pl.col("execute_end") > job["execute_start"])
        .with_columns(whose=pl.when(pl.col("tenant") == job["tenant"]).then(pl.col("tenant"))
                      .otherwise(pl.col("tenant") if viewer.is_operator else pl.lit(ANOTHER_TENANT)))
        .with_columns(overlap=(pl.min_horizontal("execute_end", pl.lit(job["execute_end"]))
                               - pl.max_horizontal("execute_start", pl.lit(job["execute_start"]))).dt.total_seconds())
        .group_by("whose", "backend")
        .agg(jobs=pl.len(), busy_seconds=pl.col("exec_seconds").sum(), overlap_seconds=pl.col("overlap").sum())
        .with_columns(share=pl.col("overlap_seconds") / (job["execute_end"] - job["execute_start"]).total_seconds())
        .sort("overlap_seconds", "whose", "backend", descending=[True, False, False])
        .collect()
    )
    if not viewer.is_operator:
        others = others.drop("jobs", "busy_seconds")
    return others.rename({"whose": "tenant"}).to_dicts()


def _money(job: pl.DataFrame, terms: BillingTerms) -> dict:
    row = with_meter(job.lazy(), terms.meter).with_columns(owed_seconds=owed_seconds()).with_columns(
        billed=terms.prices.amount(pl.col("billed_seconds"), pl.col("billed_shots")),
        owed=terms.prices.amount(pl.col("owed_seconds"), pl.when(pl.col("execute_start").is_not_null())
                                 .then(pl.col("shots")).otherwise(0)),
    ).collect().row(0, named=True)
    billed, owed = row["billed"] or 0.0, row["owed"] or 0.0
    delta = None if row["owed_seconds"] is None or row["billed_seconds"] is None else \
        row["billed_seconds"] - row["owed_seconds"]
    return {
        "meter": row["meter"], "meter_granularity_seconds": row["meter_granularity_seconds"],
        "billed_seconds": row["billed_seconds"], "billed_shots": row["billed_shots"],
        "owed_seconds": row["owed_seconds"], "billed_amount": round(billed, 6),
        "owed_amount": round(owed, 6), "difference": round(billed - owed, 6),
        "currency": terms.prices.currency,
        "right": delta is not None and abs(delta) <= BILLING_TOLERANCE_SECONDS,
    }


def _causes(job: dict, co_running: list[dict], billing: dict) -> list[str]:
    causes = []
    floor, measured, predicted = job["fidelity_floor"], job["measured_fidelity"], job["predicted_fidelity"]
    if job["reason"] in CAUSES:
        causes.append(CAUSES[job["reason"]].format(backend=job["backend"] or "the backend"))
    elif job["outcome"] not in (None, Outcome.SUCCEEDED.value):
        causes.append(f"{job['outcome']}: {job['reason'] or 'no reason given'}")
    if measured is not None and floor is not None and measured < floor:
        causes.append(f"fidelity under your floor: measured {measured:.3f}, floor {floor:.3f}")
        if predicted is not None and predicted < floor:
            causes.append(f"the prediction at routing ({predicted:.3f}) was already under the floor {floor:.3f}, "
                          "yet the job ran")
    if measured is not None and predicted is not None and measured < DEGRADED_RATIO * predicted:
        neighbours = [c for c in co_running if c["tenant"] != job["tenant"]]
        if neighbours:
            top = neighbours[0]
            causes.append(f"crosstalk: fidelity {measured:.3f} against {predicted:.3f} predicted while {top['tenant']}'s "
                          f"work ran beside it on {top['backend']} for {top['share']:.0%} of its execution, in the same "
                          f"control group ({job['control_group']})")
        else:
            causes.append(f"fidelity {measured:.3f} fell short of the {predicted:.3f} the calibration predicted")
    if job["execute_start"] is not None and not (job["usable"] or False) and billing["billed_amount"] > 0:
        causes.append(f"billed {billing['billed_amount']:.2f} {billing['currency']} for a result you cannot use")
    if billing["owed_seconds"] is None and (billing["billed_seconds"] or 0) > 0:
        causes.append(f"billed {billing['billed_seconds']:.3f} s though the trace shows no execution to bill")
    elif not billing["right"] and billing["owed_seconds"] is not None:
        causes.append(f"billed {billing['billed_seconds']:.3f} s where the declared meter owes "
                      f"{billing['owed_seconds']:.3f} s ({billing['difference']:+.2f} {billing['currency']})")
    return causes


def explain(tables: Tables, provenance_id: str, viewer: Viewer, terms: BillingTerms) -> Explanation | None:
    """The job with this provenance ID explained for ``viewer``, or None when the viewer has no such job."""
    frame = _job(tables, provenance_id, viewer)
    if frame.is_empty():
        return None
    job = frame.row(0, named=True)
    lifecycle = [StageTime(s.value, job[f"{s.value}_start"], job[f"{s.value}_end"],
                       _seconds(job[f"{s.value}_start"], job[f"{s.value}_end"]))
                 for s in STAGES if job[f"{s.value}_start"] is not None]
    target, wait = job["queue_wait_target_seconds"], job["queue_wait_seconds"]
    calibration = (
        tables.calibrations.filter(pl.col("calibration_id") == job["calibration_id"], pl.col("backend") == job["backend"])
        .sort("ended_at").select("verdict", "ended_at", "reason").collect()
    ) if job["calibration_id"] is not None else pl.DataFrame()
    billing = _money(frame, terms)
    co_running = _co_running(tables, job, viewer)
    return Explanation(
        provenance_id=provenance_id, tenant=job["tenant"], lifecycle=lifecycle,
        queue={"wait_seconds": wait, "target_seconds": target,
               "within_target": None if wait is None or target is None else wait <= target},
        placement={"backend": job["backend"], "control_group": job["control_group"],
                   "predicted_fidelity": job["predicted_fidelity"], "cost_policy": job["cost_policy"],
                   "co_running": co_running},
        calibration={"id": job["calibration_id"], "age_seconds": job["calibration_age_seconds"],
                     "verdict": calibration["verdict"][-1] if calibration.height else None},
        outcome={"outcome": job["outcome"], "reason": job["reason"], "usable": job["usable"],
                 "measured_fidelity": job["measured_fidelity"], "fidelity_floor": job["fidelity_floor"]},
        billing=billing, causes=_causes(job, co_running, billing),
    )


def lines(e: Explanation) -> list[str]:
    """The explanation as text a person reads top to bottom."""
    def num(value, fmt=".3f", unit=""):
        return "n/a" if value is None else f"{value:{fmt}}{unit}"

    out = [f"job {e.provenance_id} of {e.tenant}", "", "lifecycle:"]
    out += [f"  {s.stage:<18} {s.start:%Y-%m-%d %H:%M:%S}  {num(s.seconds, '.2f', ' s')}" for s in e.lifecycle]
    q = e.queue
    verdict = "" if q["within_target"] is None else " (within target)" if q["within_target"] else " (OVER target)"
    out += ["", f"queue wait: {num(q['wait_seconds'], '.1f', ' s')} against your target "
                f"{num(q['target_seconds'], '.0f', ' s')}{verdict}"]
    p = e.placement
    out += [f"backend: {p['backend'] or 'none'} (control group {p['control_group'] or 'n/a'}), chosen with predicted "
            f"fidelity {num(p['predicted_fidelity'])} under cost policy {p['cost_policy'] or 'n/a'}"]
    c = e.calibration
    out += [f"calibration in force: {c['id'] if c['id'] is not None else 'none'}, "
            f"{num(c['age_seconds'] and c['age_seconds'] / 60, '.0f', ' min')} old, {c['verdict'] or 'verdict unknown'}"]
    o = e.outcome
    reason = f" ({o['reason']})" if o["reason"] else ""
    out += [f"outcome: {o['outcome']}{reason}; usable: "
            f"{'yes' if o['usable'] else 'no'}; fidelity {num(o['measured_fidelity'])} against floor "
            f"{num(o['fidelity_floor'])}"]
    b = e.billing
    out += [f"billed: {num(b['billed_seconds'], '.3f', ' s')}, {b['billed_shots'] or 0} shots = "
            f"{b['billed_amount']:.2f} {b['currency']}; the {b['meter'] or 'exact'} meter owes "
            f"{num(b['owed_seconds'], '.3f', ' s')} = {b['owed_amount']:.2f} {b['currency']}"]
    out += ["", "why:" if e.causes else "why: nothing went wrong"]
    out += [f"  - {cause}" for cause in e.causes]
    return out
