"""The telemetry contract rendered as Markdown: docs/semconv.md is this output, checked by a test."""

from __future__ import annotations

import yaml

from contract.alert_catalogue import BILLING_DELTA
from contract.billing import (
    BillingTerms,
    Meter,
    MeterKind,
    PriceTable,
    Reservation,
    ReservedJobs,
)
from contract.data_dir import BILLING_TERMS
from contract.semconv import (
    ATTRIBUTES,
    METRICS,
    SCHEMA_URL,
    SCHEMA_VERSION,
    STAGES,
    Attr,
    Event,
    FailureReason,
    Metric,
    Outcome,
    RejectReason,
    Span,
    Stage,
)

INTRO = f"""# qtenancy telemetry contract, version {SCHEMA_VERSION}

Generated from `contract/semconv.py` by `qtenancy semconv -o docs/semconv.md`; do not edit by hand.
Schema URL: `{SCHEMA_URL}`. A broker that emits these names is observable by qtenancy without the emulator.

## Traces

One job is one trace. The **provenance ID** is minted by the broker at submit time as 32 lower-case hex
digits; it *is* the trace ID, and it is carried as `qtenancy.provenance_id` on every span and log record of
the job and as the `trace_id` exemplar on the latency histograms. The root span `{Span.JOB.value}` (kind
SERVER) runs from submission to the closing notification; each lifecycle stage the job went through is a
child span named `qtenancy.job.<stage>`. Span timestamps are the platform's own times of the stages.

The root span lists in `qtenancy.job.stages` every stage the broker emitted a span for; a job is complete
(SLI M5) when every listed stage arrived. The span of the stage where a job failed carries status ERROR
with the reason code; the root span of any job that did not succeed carries ERROR with `outcome: reason`.

Calibration runs are traces of their own: one `{Span.CALIBRATION.value}` span from the start to the end of
the run, with the measured values and the verdict (status OK on a pass, ERROR with the out-of-spec
quantities on a fail).

A backend's status is a log record `{Event.BACKEND_STATUS.value}`, sent whenever the backend goes down or comes
back, with `{Attr.BACKEND.value}` and `{Attr.BACKEND_UP.value}` (false: it can run no job from that instant; true:
it can again). It is the analytical path's record of an outage even while no job runs there, as
`{Metric.BACKEND_UP.value}` is the real-time path's. A broker that sends none is judged by its jobs that fail
with `{FailureReason.BACKEND_DOWN.value}`. Like calibration records, only a platform token may send it.

**Queue wait** (SLI M2) is the `{Span.stage(Stage.QUEUE)}` span, from its start to its end. **Execution** (the
usage a job is billed for, SLIs M6 and M7) is the `{Span.stage(Stage.EXECUTE)}` span, from its start to its end.
Submit-to-result (M8) runs from the start of the execute span to the end of the root span: what the platform
controls once the job leaves the queue (the queue wait is M2's).

Resource attributes: `service.name` = `qtenancy-broker`, `service.namespace` = `qtenancy`,
`service.version`; the emulator adds `qtenancy.scenario` and `qtenancy.seed`.
"""

METER_MEANING = {
    MeterKind.EXACT: "the traced execution seconds (end minus start of the execute span)",
    MeterKind.ROUNDED: "the execution rounded up to a whole number of `granularity` seconds",
    MeterKind.SAMPLED: "`granularity` seconds for every multiple of `granularity` in Unix time inside the execution",
}
RESERVED_MEANING = {
    ReservedJobs.PER_JOB: "a job inside its tenant's reservation is metered like any other",
    ReservedJobs.TO_RESERVATION: "reserved time is billed to the reservation; the job's own entry owes 0",
}
BILLING = f"""## Billing: the meter is part of the contract

A broker declares how it bills on the `meter` span (the `qtenancy.billing.meter*` attributes, also allowed on
the root span), or in a billing terms file (`meter:`, `prices:`, `reservations:`) given to the analysis. SLI M6,
the `{BILLING_DELTA.name}` signal, billing statements and `qtenancy jobs explain` judge what the meter entry
billed (`qtenancy.billing.seconds`) against what the declared meter owes for the execution the trace shows; a
job billed within 1 ms of that is billed right. A broker that declares nothing is judged as billing exactly the
traced execution seconds. An executed job owes at least `qtenancy.billing.meter.minimum` seconds.
"""


STAGE_MEANING = {
    "submit": "the request from arrival until it is queued (includes hybrid pre-processing)",
    "authorize": "API key check and admission control",
    "queue": "waiting for a backend",
    "schedule": "placement on the chosen backend and slot",
    "calibration_check": "the calibration in force is checked and recorded",
    "execute": "the circuit runs on the backend",
    "post_process": "classical post-processing of the counts",
    "store": "the result is stored",
    "meter": "the meter entry is closed",
    "notify": "the tenant is notified",
}


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render() -> str:
    lines = [INTRO, "### Spans", ""]
    rows = [(f"`{Span.JOB.value}`", "—", "root span of the job")]
    rows += [(f"`{Span.stage(s)}`", f"`{s.value}`", STAGE_MEANING[s.value]) for s in STAGES]
    rows.append((f"`{Span.CALIBRATION.value}`", "—", "a calibration run (its own trace)"))
    lines += _table(("span name", "stage", "covers"), rows)
    lines += ["", "### Attributes", ""]
    lines += _table(
        ("attribute", "type", "on", "meaning"),
        [(f"`{a.name.value}`", a.type, ", ".join(a.on), a.brief) for a in ATTRIBUTES],
    )
    lines += ["", "### Values", ""]
    lines += _table(
        ("attribute", "values"),
        [
            ("`qtenancy.job.outcome`", ", ".join(f"`{o.value}`" for o in Outcome)),
            ("`qtenancy.job.reason`", ", ".join(f"`{r.value}`" for r in (*RejectReason, *FailureReason))),
        ],
    )
    lines += ["", BILLING]
    lines += _table(("`qtenancy.billing.meter`", "owes"), [(f"`{k.value}`", m) for k, m in METER_MEANING.items()])
    lines += [""]
    lines += _table(("`qtenancy.billing.meter.reserved_jobs`", "meaning"),
                    [(f"`{k.value}`", m) for k, m in RESERVED_MEANING.items()])
    lines += ["", "Money comes from the price table of the billing terms: a price per backend second, per shot, per "
              "task (executed job), a minimum charge per executed job, and a price per reserved second.", ""]
    lines += _billing_terms()
    lines += ["## Logs", "", "A job's log records carry its trace and root span IDs and its provenance ID. The event "
              "name goes in the OTLP log record's `event_name` field (an `event.name` attribute is read when the "
              "field is empty); the body is free text for people.", ""]
    lines += _table(
        ("event name", "when"),
        [
            (f"`{Event.JOB_ADMITTED.value}`", "the broker admitted the job"),
            (f"`{Event.JOB_REJECTED.value}`", "the broker refused the job (severity WARN, body says why)"),
            (f"`{Event.JOB_FINISHED.value}`", "the job closed: outcome, reason, usable"),
            (f"`{Event.CALIBRATION_FINISHED.value}`", "a calibration run ended, with its measurements and verdict"),
            (f"`{Event.BACKEND_STATUS.value}`", "a backend went down or came back (platform record, trace optional)"),
        ],
    )
    lines += ["", "## Prometheus metrics", ""]
    lines += _table(
        ("metric", "type", "unit", "labels", "help"),
        [
            (f"`{m.name}`", m.type.value, m.unit or "—", ", ".join(f"`{label.value}`" for label in m.labels), m.help)
            for m in METRICS
        ],
    )
    lines += ["", "Label values: `outcome` as `qtenancy.job.outcome`; `usable` is `\"true\"` or `\"false\"` (lower "
              "case strings); `verdict` is `pass` or `fail`; `gate` is `1q` or `2q`; `priority` as "
              "`qtenancy.job.priority`."]
    buckets = [m for m in METRICS if m.buckets]
    lines += ["", "Histogram buckets (seconds):", ""]
    lines += [f"- `{m.name}`: {', '.join(f'{b:g}' for b in m.buckets)}" for m in buckets]
    return "\n".join(lines) + "\n"


TERMS_EXAMPLE = """meter: {kind: sampled, granularity_seconds: 5}
prices:
  currency: EUR
  per_second: {manila: 1.2, perth: 1.6}
  per_shot: 0.0001
  minimum_charge: 0.5
  reservation_per_second: 0.9
reservations:
  - {tenant: fintech, backend: perth, start: 2026-11-03T09:00:00Z, end: 2026-11-03T12:00:00Z}
"""


def _billing_terms() -> list[str]:
    """The billing terms file, field by field from its models (``contract.billing``), with an example."""
    sections = (("meter", Meter), ("prices", PriceTable), ("reservations[]", Reservation))
    rows = [(f"`{section}.{name}`", info.description or "")
            for section, model in sections for name, info in model.model_fields.items()]
    BillingTerms.model_validate(yaml.safe_load(TERMS_EXAMPLE))
    return [
        "### The billing terms file", "",
        f"`<data-dir>/{BILLING_TERMS}` holds a real broker's terms; `qtenancy demo` and `qtenancy emulate --bulk` "
        "write the emulated scenario's there. Without it every price is 0 (statements say so), and jobs that "
        "declare no meter are judged as exact. Every field is optional.", "",
        *_table(("field", "meaning"), rows), "",
        "```yaml", *TERMS_EXAMPLE.splitlines(), "```", "",
    ]
