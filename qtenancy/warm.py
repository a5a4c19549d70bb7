"""Importing what a command needs later while it works on something else.

A postmortem spends about a second in polars (which releases the GIL) before it draws, and importing
matplotlib to draw takes 0.3 s more; importing it on a thread meanwhile takes that off the wall time. The
import system locks each module, so the caller's own import of it later waits for the thread's to finish.
"""

from __future__ import annotations

import importlib
import threading


def import_in_background(module: str) -> threading.Thread:
    """Start importing ``module`` on a daemon thread; an import error is left for the caller's own import of it
    to raise, where the module is used."""
    def load() -> None:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 (the caller's own import raises it again, with its traceback)
            return

    thread = threading.Thread(target=load, name=f"qtenancy-import-{module}", daemon=True)
    thread.start()
    return thread
