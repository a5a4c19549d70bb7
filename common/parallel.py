"""Running independent pieces of work on a few threads, stopping early when one fails."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait


def run_all(calls: Iterable[Callable[[], object]], workers: int) -> None:
    """Run ``calls`` on ``workers`` threads, in order. As soon as one fails, those not yet started never start,
    and the first failure (in the order of ``calls``) is raised once those already running have finished: a
    failed run returns as soon as it can, without work left running behind it."""
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(call) for call in calls]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            for future in futures:
                future.cancel()
        for future in futures:
            if not future.cancelled():
                future.result()
