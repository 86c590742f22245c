"""Repetition and statistics, memory sampling, machine facts and the result file of the benchmarks."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

SCHEMA_VERSION = 1
MIB = 2**20
FIGURE_KEYS = ("unit", "median", "min", "max", "n", "samples")


# --- statistics ------------------------------------------------------------------------------

def figure(samples: Iterable[float], unit: str) -> dict[str, Any]:
    """One reported figure: the median of its repetitions and their spread (min and max)."""
    values = [float(v) for v in samples]
    if not values:
        raise ValueError("a figure needs at least one sample")
    return {"unit": unit, "median": statistics.median(values), "min": min(values),
            "max": max(values), "n": len(values), "samples": values}


def ratio_figure(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, Any]:
    """The ratio of two things measured side by side: one ratio per repetition, summarized.

    Pairing each repetition with its own baseline keeps a noisy moment of the shared machine
    from landing on one side only.
    """
    if len(numerators) != len(denominators):
        raise ValueError("a ratio needs one baseline per repetition")
    return figure([n / d for n, d in zip(numerators, denominators, strict=True)], "x")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolated between the nearest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def repeat(measure: Callable[[int], Any], times: int) -> list[Any]:
    """Call `measure(i)` for i in 0..times-1 and keep every result."""
    return [measure(i) for i in range(times)]


# --- memory ----------------------------------------------------------------------------------

def process_tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants that still exist."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _group(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except OSError:
        return None


def service_tree(pid: int) -> list[psutil.Process]:
    """A service's processes: its main process's tree, and the tree of any process that joined
    its process group from elsewhere (the native runner's Airflow components are forked by its
    fork server and join the group of the small process supervisord runs for them)."""
    return service_processes({"service": pid})["service"]


def service_processes(pids: Mapping[str, int]) -> dict[str, list[psutil.Process]]:
    """Each service's processes, each counted once: a process belongs to the service of its
    nearest ancestor (itself included) that is a service's main process or in a service's
    process group. So what the fork server forked belongs to the component it runs.

    One pass over the machine's processes (parent and group of each), then lookups: the memory
    benchmark samples this every 1.5 s beside running tasks, so it must stay cheap."""
    by_pid = {pid: name for name, pid in pids.items()}
    found: dict[int, psutil.Process] = {}
    parent: dict[int, int] = {}
    group: dict[int, int | None] = {}
    for process in psutil.process_iter(["ppid"]):
        found[process.pid] = process
        parent[process.pid] = process.info["ppid"]
        group[process.pid] = _group(process)

    def owner(pid: int) -> str | None:
        for _ in range(64):  # deeper than any real tree; a loop would be a reused pid
            if pid in by_pid:
                return by_pid[pid]
            if group.get(pid) in by_pid:
                return by_pid[group[pid]]
            if pid not in parent or parent[pid] in (0, pid):
                return None
            pid = parent[pid]
        return None

    result: dict[str, list[psutil.Process]] = {name: [] for name in pids}
    for pid, process in found.items():
        name = owner(pid)
        if name is not None:
            result[name].append(process)
    return result


def processes_pss(processes: list[psutil.Process]) -> int:
    """Bytes of proportional set size of `processes` (see `tree_pss`)."""
    total = 0
    for process in processes:
        # One that ended between listing and reading no longer costs anything.
        with contextlib.suppress(psutil.Error):
            total += process.memory_full_info().pss
    return total


def tree_pss(pid: int) -> int:
    """Bytes of proportional set size of a process and its descendants.

    PSS divides each shared page among the processes that map it, so the PSS of many processes
    adds up to what they really cost, unlike RSS, which counts shared pages once per process.
    """
    return processes_pss(service_tree(pid))


class PeakSampler:
    """Calls `sample()` every `interval` seconds in a thread and keeps the highest value per key.

    `sample` returns {key: bytes}; `baseline` holds the first sample, taken before the thread
    starts, so growth is `peak - baseline`.
    """

    def __init__(self, sample: Callable[[], Mapping[str, float]], interval: float = 0.25) -> None:
        self._sample = sample
        self.interval = interval
        self.baseline: dict[str, float] = dict(sample())
        self.peak: dict[str, float] = dict(self.baseline)
        self.count = 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-sampler", daemon=True)

    def _take(self) -> None:
        for key, value in self._sample().items():
            self.peak[key] = max(self.peak.get(key, value), value)
        self.count += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._take()

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()  # the state at the end counts too

    def growth(self, key: str) -> float:
        return self.peak.get(key, 0.0) - self.baseline.get(key, 0.0)


# --- the machine -----------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_facts() -> dict[str, Any]:
    """What the figures depend on: hardware, load, and the versions of what was measured."""
    return {
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
        "versions": {name: _version(name) for name in (
            "apache-airflow", "mlflow", "scikit-learn", "pandas", "uvicorn", "psutil")},
    }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- the result file -------------------------------------------------------------------------

def schema_problems(result: Mapping[str, Any]) -> list[str]:
    """What makes `result` not a valid result file; empty when it is valid."""
    problems = []
    for key in ("schema_version", "started", "finished", "options", "machine", "measurements",
                "targets"):
        if key not in result:
            problems.append(f"missing top-level key {key!r}")
    if problems:
        return problems
    if result["schema_version"] != SCHEMA_VERSION:
        problems.append(f"schema_version is {result['schema_version']!r}, not {SCHEMA_VERSION}")
    for key in ("cores_logical", "memory_gib", "cpu_model", "python", "versions"):
        if key not in result["machine"]:
            problems.append(f"machine: missing {key!r}")
    for name, section in result["measurements"].items():
        if not isinstance(section, Mapping) or "figures" not in section:
            problems.append(f"{name}: no figures")
            continue
        for label, fig in section["figures"].items():
            missing = [k for k in FIGURE_KEYS if k not in fig]
            if missing:
                problems.append(f"{name}.{label}: missing {', '.join(missing)}")
            elif not (fig["min"] <= fig["median"] <= fig["max"]) or fig["n"] != len(fig["samples"]):
                problems.append(f"{name}.{label}: median outside min..max or n != len(samples)")
    for target in result["targets"]:
        for key in ("name", "goal", "met"):
            if key not in target:
                problems.append(f"target {target.get('name', '?')}: missing {key!r}")
        if target.get("met") not in (True, False, None):
            problems.append(f"target {target.get('name', '?')}: met must be true, false or null")
    return problems


def write_result(result: Mapping[str, Any], path: Path) -> None:
    """Write the result as JSON after checking its shape; a malformed result is a bug here."""
    problems = schema_problems(result)
    if problems:
        raise ValueError("the result does not follow its schema: " + "; ".join(problems))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
