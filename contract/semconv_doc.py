"""The telemetry contract rendered as Markdown: docs/semconv.md is this output, checked by a test."""

from __future__ import annotations

from contract.semconv import (
    ATTRIBUTES,
    METRICS,
    SCHEMA_URL,
    SCHEMA_VERSION,
    STAGES,
    Event,
    FailureReason,
    Outcome,
    RejectReason,
    Span,
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

Resource attributes: `service.name` = `qtenancy-broker`, `service.namespace` = `qtenancy`,
`service.version`; the emulator adds `qtenancy.scenario` and `qtenancy.seed`.
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
    lines += ["", "## Logs", "", "Log records carry the job's trace and root span IDs and its provenance ID.", ""]
    lines += _table(
        ("event name", "when"),
        [
            (f"`{Event.JOB_ADMITTED.value}`", "the broker admitted the job"),
            (f"`{Event.JOB_REJECTED.value}`", "the broker refused the job (severity WARN, body says why)"),
            (f"`{Event.JOB_FINISHED.value}`", "the job closed: outcome, reason, usable"),
            (f"`{Event.CALIBRATION_FINISHED.value}`", "a calibration run ended, with its measurements and verdict"),
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
    buckets = [m for m in METRICS if m.buckets]
    lines += ["", "Histogram buckets (seconds):", ""]
    lines += [f"- `{m.name}`: {', '.join(f'{b:g}' for b in m.buckets)}" for m in buckets]
    return "\n".join(lines) + "\n"
