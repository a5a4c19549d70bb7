"""Real-time mode: the run's telemetry released on a virtual clock that runs at a chosen speed-up.

Metrics are served on a live ``/metrics`` endpoint for Prometheus to scrape, and spans and logs are
exported as their virtual end times come due, so a real Prometheus, Alertmanager and collector see the
platform as it happens.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import start_http_server

from emulator.metrics import MetricsReplay

TICK_SECONDS = 0.05


class VirtualClock:
    """Virtual nanoseconds since the epoch: ``start`` at creation, advancing ``speedup`` times wall time."""

    def __init__(self, start_ns: int, speedup: float):
        self._start_ns = start_ns
        self._speedup = speedup
        self._wall0 = time.monotonic()

    def now_ns(self) -> int:
        return self._start_ns + int((time.monotonic() - self._wall0) * self._speedup * 1e9)

    def wait_until(self, virtual_ns: int) -> None:
        remaining = (virtual_ns - self.now_ns()) / 1e9 / self._speedup
        if remaining > 0:
            time.sleep(remaining)


class LiveMetrics:
    """Serves the replay's registry over HTTP and advances it with the clock on a background thread."""

    def __init__(self, replay: MetricsReplay, clock: VirtualClock, host: str, port: int):
        self._replay = replay
        self._clock = clock
        self._stop = threading.Event()
        self._server, self._server_thread = start_http_server(port, addr=host, registry=replay.registry)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._run, name="qtenancy-live-metrics", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._replay.advance(self._clock.now_ns())
            self._stop.wait(TICK_SECONDS)

    def __enter__(self) -> LiveMetrics:
        self._thread.start()
        return self

    def wait_done(self) -> None:
        while not self._replay.done and not self._stop.is_set():
            self._stop.wait(TICK_SECONDS)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._server.shutdown()
        self._server.server_close()
