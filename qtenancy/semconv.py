"""The telemetry contract every package speaks.

Kept in one place so that the emulator, the collector and the analytics agree on spelling;
a real broker that emits these names is observable by qtenancy without the emulator.
"""

from enum import StrEnum

SCHEMA_VERSION = "0.1.0"


class Stage(StrEnum):
    """Job lifecycle stages, in order; each is a span under the job's root span."""

    SUBMIT = "submit"
    AUTHORIZE = "authorize"
    QUEUE = "queue"
    SCHEDULE = "schedule"
    CALIBRATION_CHECK = "calibration_check"
    EXECUTE = "execute"
    POST_PROCESS = "post_process"
    STORE = "store"
    METER = "meter"
    NOTIFY = "notify"


STAGES: tuple[Stage, ...] = tuple(Stage)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class RejectReason(StrEnum):
    """Why the broker refused a submission at admission."""

    BAD_KEY = "bad_key"
    OVER_QUOTA = "over_quota"
    TOO_WIDE = "too_wide"
    MALFORMED_CIRCUIT = "malformed_circuit"


class FailureReason(StrEnum):
    """Why an admitted job did not return a result."""

    BACKEND_DOWN = "backend_down"
    PREPROCESS_TIMEOUT = "preprocess_timeout"
    POSTPROCESS_TIMEOUT = "postprocess_timeout"
    RESERVATION_PREEMPTION = "reservation_preemption"


class Priority(StrEnum):
    """Priority tiers; a higher tier is served first, aging promotes waiting work."""

    BATCH = "batch"
    STANDARD = "standard"
    INTERACTIVE = "interactive"


PRIORITY_TIER: dict[Priority, int] = {Priority.BATCH: 0, Priority.STANDARD: 1, Priority.INTERACTIVE: 2}


class CalibrationVerdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
