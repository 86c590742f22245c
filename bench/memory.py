"""Memory: PSS of every service of the stack idle, and the peak while the example DAG runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.measure import MIB, PeakSampler, figure, processes_pss, service_processes
from bench.pipeline import ensure_champion, run_dag
from bench.private_stack import PrivateStack
from stack.airflow_api import AirflowAPI

TOTAL = "total"
SETTLE_SECONDS = 5.0
# Reading the PSS of the stack's ~60 processes takes about 0.25 s of CPU: not too often.
SAMPLE_SECONDS = 1.5


def service_pss(pids: dict[str, int]) -> dict[str, float]:
    """PSS in bytes of each service's process tree, and their sum at this moment."""
    sizes = {name: float(processes_pss(processes))
             for name, processes in service_processes(pids).items()}
    sizes[TOTAL] = sum(sizes.values())
    return sizes


def sampler_factory(stack: PrivateStack, taken: list[PeakSampler]) -> Callable[[], PeakSampler]:
    """A new peak sampler of the whole stack per call (one per DAG run); each is kept in `taken`."""
    pids = stack.service_pids()

    def make() -> PeakSampler:
        sampler = PeakSampler(lambda: service_pss(pids), interval=SAMPLE_SECONDS)
        taken.append(sampler)
        return sampler

    return make


def measure_idle(stack: PrivateStack, repeat: int) -> list[dict[str, float]]:
    """`repeat` snapshots of the idle stack, a few seconds apart, after it settled."""
    api = AirflowAPI.from_settings(stack.settings)
    # Idle means the steady state a user sees after a run: the model server holds its champion.
    ensure_champion(stack, api)
    pids = stack.service_pids()
    snapshots = []
    for _ in range(repeat):
        time.sleep(SETTLE_SECONDS)
        snapshots.append(service_pss(pids))
    return snapshots


def peaks_of_own_runs(stack: PrivateStack, repeat: int) -> list[PeakSampler]:
    """When the pipeline benchmark does not run: DAG runs of our own, sampled."""
    api = AirflowAPI.from_settings(stack.settings)
    taken: list[PeakSampler] = []
    make = sampler_factory(stack, taken)
    for _ in range(repeat):
        run_dag(api, during=make())
    return taken


def section(stack: PrivateStack, idle: list[dict[str, float]],
            peaks: list[PeakSampler]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name in idle[0]:
        figures[f"idle.{name}_mib"] = figure([s[name] / MIB for s in idle], "MiB")
    for name in peaks[0].peak:
        figures[f"peak.{name}_mib"] = figure([p.peak[name] / MIB for p in peaks], "MiB")
    processes = {name: len(found)
                 for name, found in service_processes(stack.service_pids()).items()}
    return {
        "figures": figures,
        "details": {"processes_per_service_idle": processes,
                    "samples_per_run": [p.count for p in peaks]},
        "notes": [
            "PSS (proportional set size) of each service: its main process (supervisord's child) "
            "and all its descendants; shared pages are split among the processes that map them, "
            "so the figures add up. idle: after a first DAG run (the model server holds its "
            "champion); peak: the highest value seen while a DAG run went from trigger to end, "
            "sampled every 1.5 s (peak.total is the highest sum at one moment, not the sum of "
            "the services' peaks).",
        ],
    }
