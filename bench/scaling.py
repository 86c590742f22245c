"""Scaling: the pipeline on synthetic data of the example's schema, time and peak memory per task."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

from bench.measure import MIB, PeakSampler, figure, service_tree
from bench.pipeline import DagRunTiming, prepare, run_dag
from bench.private_stack import PrivateStack
from project_template.config import LOCAL_DATA_FILE as EXAMPLE_CSV
from stack.airflow_api import AirflowAPI

SIZES = (10_000, 100_000, 1_000_000)
# One linear candidate: with the forest and the boosting of the default set, 100k rows alone take
# minutes on two cores and a million would take most of an hour. The linear model keeps what
# grows with the data in view: reading, validating, splitting, storing and loading it, fitting,
# logging the model with its input datasets, and scoring the test split.
DEFAULT_CANDIDATES = ("elastic_net",)
QUICK_SIZES = (10_000,)
# Airflow 3's task runner names its process after the task instance (setproctitle).
TASK_TITLE = re.compile(r"airflow worker -- ([0-9a-f-]{36})$")


def synthetic_csv(rows: int, path: Path, seed: int = 7) -> Path:
    """`rows` rows of the example's columns: its rows drawn with replacement, plus a little noise.

    The values keep the example's ranges and the relation between features and target, so the
    models do the same work per row as on the real data.
    """
    example = pd.read_csv(EXAMPLE_CSV, sep=";")
    rng = np.random.default_rng(seed)
    frame = example.iloc[rng.integers(0, len(example), rows)].reset_index(drop=True)
    noise = rng.normal(0.0, 0.02, size=frame.shape) * example.std().to_numpy()
    frame = (frame + noise).round(4)
    frame["sex"] = frame["sex"].round()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False)
    return path


def size_label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1000}k"


def task_process_rss(scheduler_pid: int) -> dict[str, float]:
    """RSS of each running task process (descendants of the scheduler), by task instance id."""
    found: dict[str, float] = {}
    for process in service_tree(scheduler_pid):
        try:
            # setproctitle pads argv with empty strings
            match = TASK_TITLE.search(" ".join(process.cmdline()).strip())
            if match:
                found[match.group(1)] = float(process.memory_info().rss)
        except psutil.Error:
            continue
    return found


def per_task_peak_mib(timing: DagRunTiming, sampler: PeakSampler) -> dict[str, float]:
    """Peak RSS by task (the largest of a mapped task's instances)."""
    peaks: dict[str, float] = {}
    for ti_id, rss in sampler.peak.items():
        label = timing.ti_labels.get(ti_id)
        if label is None:
            continue
        task = label.split("[")[0]
        peaks[task] = max(peaks.get(task, 0.0), rss / MIB)
    return peaks


def run_size(api: AirflowAPI, stack: PrivateStack, path: Path,
             candidates: tuple[str, ...] = DEFAULT_CANDIDATES) -> tuple[DagRunTiming, dict]:
    scheduler = stack.service_pids()["airflow-scheduler"]
    sampler = PeakSampler(lambda: task_process_rss(scheduler), interval=0.2)
    conf = {"data_source": "local", "data_location": str(path), "candidate_models": list(candidates)}
    timing = run_dag(api, conf=conf, during=sampler)
    return timing, per_task_peak_mib(timing, sampler)


def measure(stack: PrivateStack, repeat: int, quick: bool = False,
            sizes: tuple[int, ...] | None = None, big_repeat: int = 1,
            candidates: tuple[str, ...] = DEFAULT_CANDIDATES) -> dict[str, Any]:
    """Each size `repeat` times, except sizes of a million rows or more: `big_repeat` times."""
    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    api = AirflowAPI.from_settings(stack.settings)
    prepare(api)
    figures: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for rows in sizes:
        path = synthetic_csv(rows, stack.folder / "bench-data" / f"synthetic-{rows}.csv")
        csv_mib = path.stat().st_size / MIB
        runs = [run_size(api, stack, path, candidates)
                for _ in range(big_repeat if rows >= 1_000_000 else repeat)]
        path.unlink()
        label = size_label(rows)
        figures[f"{label}.trigger_to_success_s"] = figure([t.trigger_to_success_s for t, _ in runs], "s")
        for task_id in runs[0][0].tasks:
            figures[f"{label}.task.{task_id}_s"] = figure([t.tasks[task_id]["seconds"] for t, _ in runs],
                                                          "s")
            seen = [peaks[task_id] for _, peaks in runs if task_id in peaks]
            if seen:
                figures[f"{label}.task.{task_id}.peak_rss_mib"] = figure(seen, "MiB")
        details[label] = {"rows": rows, "csv_mib": round(csv_mib, 1), "runs": len(runs),
                          "dag_runs": [t.run_id for t, _ in runs]}
    return {
        "figures": figures,
        "details": details,
        "notes": [
            "Synthetic rows: the example's rows drawn with replacement plus 2% noise; DAG run conf "
            "data_source=local, data_location=<file>; candidate_models="
            f"{list(candidates)} (the default set's forest and boosting would take most of an "
            "hour at a million rows on two cores). Runs at a million rows or more: "
            f"{big_repeat} each.",
            "peak_rss_mib: the highest RSS of the task's own process (Airflow's task runner, found "
            "by its process title among the scheduler's descendants, sampled every 0.2 s); for a "
            "mapped task the largest instance.",
        ],
    }
