"""Stack start: cold and warm `make up` to all ready, beside the slowest service started alone."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.measure import figure, ratio_figure
from bench.private_stack import PrivateStack, UpReport
from stack.native.programs import FORKED, FORKSERVER
from stack.readiness import CHECKS, NotReady
from stack.services import BY_NAME

POLL_SECONDS = 0.3  # as `make up` polls: the baseline must not win by looking more often


def own_seconds(ready: dict[str, float]) -> dict[str, float]:
    """How long each service took after the last of its dependencies was ready."""
    return {name: at - max((ready[d] for d in BY_NAME[name].depends_on if d in ready), default=0.0)
            for name, at in ready.items()}


def slowest_daemon(ups: list[UpReport]) -> str:
    """The long-running service whose own start took longest (median over the cold starts)."""
    owns = [own_seconds(up.ready) for up in ups]
    daemons = [name for name in owns[0] if not BY_NAME[name].one_shot]
    return max(daemons, key=lambda name: statistics.median(o[name] for o in owns if name in o))


def _wait(check, probe, want_ready: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check(probe)
            ready = True
        except NotReady:
            ready = False
        if ready == want_ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {'not ' if want_ready else ''}ready after {timeout:.0f}s")
        time.sleep(POLL_SECONDS)


def start_alone(stack: PrivateStack, name: str) -> float:
    """Stop one service, then time its start to ready while everything else idles.

    Its dependencies are up already, so this is the floor a parallel start cannot beat. An
    Airflow component of the native runner starts from nothing too: its fork server is
    restarted with it, so that Airflow's imports are timed as they are in a cold start.
    """
    check, probe, supervisor = CHECKS[name], stack.probe(), stack.supervisor
    supervisor.rpc.supervisor.stopProcess(name, True)
    forked = name in FORKED and FORKSERVER in stack.service_pids()
    if forked:
        supervisor.rpc.supervisor.stopProcess(FORKSERVER, True)
    # Airflow's components report health by heartbeat, which outlives the process a while.
    _wait(check, probe, want_ready=False, timeout=120)
    started = time.monotonic()
    if forked:
        supervisor.start(FORKSERVER)
    supervisor.start(name)
    _wait(check, probe, want_ready=True, timeout=stack.settings.health_timeout)
    return time.monotonic() - started


def measure(repeat: int, quick: bool = False, **env_overrides: str) -> tuple[dict[str, Any], PrivateStack]:
    """Cold and warm starts of fresh private stacks; returns the section and the last stack, up."""
    colds: list[UpReport] = []
    warms: list[UpReport] = []
    stack: PrivateStack | None = None
    for index in range(repeat):
        stack = PrivateStack.create(**env_overrides)
        try:
            colds.append(stack.up())
            stack.down()
            warms.append(stack.up())
        except BaseException:
            if stack.running():
                stack.down()
            stack.remove()
            raise
        if index < repeat - 1:
            stack.down()
            stack.remove()
    assert stack is not None
    slowest = slowest_daemon(colds)
    alone = [start_alone(stack, slowest) for _ in range(repeat)]

    figures = {
        "cold.total_s": figure([u.seconds for u in colds], "s"),
        "warm.total_s": figure([u.seconds for u in warms], "s"),
        # Named the same whichever service was slowest (details say which): the API server and
        # the scheduler, whose readiness the API server reports, swap places from run to run.
        "alone.slowest_s": figure(alone, "s"),
        "ratio.cold_over_slowest_alone": ratio_figure([u.seconds for u in colds], alone),
    }
    for label, ups in (("cold", colds), ("warm", warms)):
        for name in ups[0].ready:
            figures[f"{label}.ready.{name}_s"] = figure([u.ready[name] for u in ups if name in u.ready],
                                                        "s")
    own = {name: statistics.median(own_seconds(u.ready)[name] for u in colds) for name in colds[0].ready}
    return {
        "figures": figures,
        "details": {"slowest_service": slowest, "cold_own_seconds_median": own},
        "notes": [
            "cold: `python -m stack up` (what `make up` runs, installs done) on an empty state "
            "folder with a fresh .env and free ports, wall time to exit with all ready; warm: "
            "`down` then `up` on the same state. ready.X: when X passed its readiness check, "
            "counted from the start of the parallel start-up.",
            f"alone: {slowest}, the long-running service whose own start (ready time minus its "
            "dependencies' ready time) was slowest, stopped and started again alone on the idle "
            "stack and timed to its readiness check: the floor for a parallel start. For an "
            "Airflow component of the native runner, its fork server (which imports Airflow "
            "for the four components) is restarted with it and counted in.",
        ],
    }, stack
