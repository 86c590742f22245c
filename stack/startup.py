"""Start services in dependency order, in parallel, and report each one as it becomes ready."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from stack.readiness import CHECKS, NotReady, Probe
from stack.services import Service


class StartError(RuntimeError):
    """A service failed to start or never became ready; the message names it and its log."""


@dataclass
class Outcome:
    service: str
    seconds: float = 0.0
    error: str | None = None


def bring_up(
    services: list[Service],
    probe: Probe,
    timeout: float,
    start: Callable[[Service], None],
    failure: Callable[[Service], str | None],
    report: Callable[[Outcome], None],
) -> list[Outcome]:
    """Start each service once its dependencies are ready and wait until its check passes.

    `start` launches a service (for a one-shot: runs it to completion, raising StartError on
    failure); `failure` returns why a launched service died, or None while it lives. Returns
    every outcome; the caller decides what a failure means.
    """
    ready = {s.name: threading.Event() for s in services}
    failed: set[str] = set()
    outcomes: dict[str, Outcome] = {}
    lock = threading.Lock()
    t0 = time.monotonic()

    def run(service: Service) -> None:
        outcome = Outcome(service.name)
        try:
            for dep in service.depends_on:
                ready[dep].wait()
                if dep in failed:
                    raise StartError(f"not started: {dep} failed")
            start(service)
            deadline = time.monotonic() + timeout
            last = "no answer yet"
            while True:
                try:
                    CHECKS[service.name](probe)
                    break
                except NotReady as error:
                    last = str(error)
                why = failure(service)
                if why:
                    raise StartError(why)
                if time.monotonic() > deadline:
                    raise StartError(f"not ready after {timeout:.0f}s: {last}")
                time.sleep(0.3)
        except Exception as error:  # noqa: BLE001 - every failure is reported, none escapes a thread
            outcome.error = str(error) or type(error).__name__
            with lock:
                failed.add(service.name)
        outcome.seconds = time.monotonic() - t0
        with lock:
            outcomes[service.name] = outcome
            report(outcome)
        ready[service.name].set()

    threads = [threading.Thread(target=run, args=(s,), name=f"start-{s.name}", daemon=True)
               for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [outcomes[s.name] for s in services]


def print_outcome(outcome: Outcome) -> None:
    if outcome.error:
        print(f"  ✗ {outcome.service:<22} {outcome.error}", flush=True)
    else:
        print(f"  ✓ {outcome.service:<22} ready after {outcome.seconds:5.1f}s", flush=True)
