"""Pipeline overhead: the example DAG from trigger to success, beside its steps in one plain process."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.measure import figure, ratio_figure
from bench.private_stack import PrivateStack
from project_template.config import DAG_ID
from stack.airflow_api import AirflowAPI, AirflowAPIError
from stack.demo import failed_task_logs
from stack.settings import REPO_ROOT

RUN_TIMEOUT = 1800.0


@dataclass
class DagRunTiming:
    """One DAG run as the user sees it (trigger to success) and as Airflow recorded its tasks."""

    run_id: str
    trigger_to_success_s: float
    run_s: float  # the run's own start to end, as Airflow records it
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    gaps: dict[str, float] = field(default_factory=dict)  # task -> seconds after its last upstream
    ti_labels: dict[str, str] = field(default_factory=dict)  # task instance id -> task label


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def upstreams(api: AirflowAPI, dag_id: str = DAG_ID) -> dict[str, list[str]]:
    """Each task's direct upstream tasks, from the DAG's structure in Airflow."""
    tasks = api.request("GET", f"dags/{dag_id}/tasks").json()["tasks"]
    result: dict[str, list[str]] = {t["task_id"]: [] for t in tasks}
    for task in tasks:
        for downstream in task["downstream_task_ids"]:
            result[downstream].append(task["task_id"])
    return result


def prepare(api: AirflowAPI, dag_id: str = DAG_ID) -> None:
    api.wait_for_dag(dag_id, timeout=180)
    api.unpause(dag_id)


def run_dag(api: AirflowAPI, conf: dict | None = None, during: Any = None,
            dag_id: str = DAG_ID, poll: float = 0.25) -> DagRunTiming:
    """Trigger one run, wait for its end, and read each task's span and the gaps between tasks.

    `during` is a context manager held from the trigger to the end (a memory sampler).
    """
    with during or contextlib.nullcontext():
        started = time.monotonic()
        run_id = api.trigger(dag_id, conf=conf)
        deadline = started + RUN_TIMEOUT
        while True:
            run = api.dag_run(dag_id, run_id)
            if run["state"] in ("success", "failed"):
                break
            if time.monotonic() > deadline:
                raise AirflowAPIError(f"run {run_id} still {run['state']} after {RUN_TIMEOUT:.0f}s")
            time.sleep(poll)
        elapsed = time.monotonic() - started
    if run["state"] != "success":
        logs = "\n".join(failed_task_logs(api, dag_id, run_id))
        raise AirflowAPIError(f"run {run_id} of {dag_id} ended {run['state']}:\n{logs[-4000:]}")

    timing = DagRunTiming(run_id, elapsed,
                          (_time(run["end_date"]) - _time(run["start_date"])).total_seconds())
    spans: dict[str, list[datetime]] = {}
    for ti in api.task_instances(dag_id, run_id):
        start, end = _time(ti["start_date"]), _time(ti["end_date"])
        index = ti.get("map_index", -1)
        timing.ti_labels[ti["id"]] = ti["task_id"] if index is None or index < 0 \
            else f"{ti['task_id']}[{index}]"
        span = spans.setdefault(ti["task_id"], [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
        timing.tasks.setdefault(ti["task_id"], {"instances": []})["instances"].append(ti["duration"])
    for task_id, (start, end) in spans.items():
        timing.tasks[task_id].update(start=start.isoformat(), end=end.isoformat(),
                                     seconds=(end - start).total_seconds())
    run_start = _time(run["start_date"])
    for task_id, ups in upstreams(api, dag_id).items():
        # The scheduler's share between two dependent tasks: from the last upstream's end to
        # this task's start (from the run's start for the first tasks).
        ready_at = max((spans[u][1] for u in ups), default=run_start)
        timing.gaps[task_id] = (spans[task_id][0] - ready_at).total_seconds()
    return timing


@dataclass
class PlainTiming:
    wall_s: float
    steps: dict[str, float]


def run_plain(stack: PrivateStack, during: Any = None) -> PlainTiming:
    """The same steps, in order, in one fresh Python process against the same services.

    `during` is held around the process, as `run_dag` holds it around the DAG run.
    """
    argv = [sys.executable, "-m", "bench.plain_pipeline"]
    with during or contextlib.nullcontext():
        started = time.monotonic()
        result = subprocess.run(argv, cwd=REPO_ROOT, env=stack.client_environment(),
                                capture_output=True, text=True, timeout=RUN_TIMEOUT)
        wall = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"the plain pipeline failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return PlainTiming(wall, json.loads(result.stdout.strip().splitlines()[-1])["steps"])


def has_champion(stack: PrivateStack) -> bool:
    import requests

    s = stack.settings
    response = requests.get(f"{s.mlflow_url}/api/2.0/mlflow/registered-models/alias",
                            params={"name": s.get("REGISTERED_MODEL_NAME"), "alias": "champion"},
                            timeout=30)
    return response.status_code == 200


def ensure_champion(stack: PrivateStack, api: AirflowAPI) -> float | None:
    """Run the DAG once if the registry has no champion yet; return that run's seconds."""
    prepare(api)
    if has_champion(stack):
        return None
    return run_dag(api).trigger_to_success_s


def measure(stack: PrivateStack, repeat: int, quick: bool = False,
            during_dag: Callable[[], Any] | None = None,
            during_plain: Callable[[], Any] | None = None) -> dict[str, Any]:
    """`repeat` DAG runs and plain runs, alternated; `during_*()` make a sampler for each run."""
    api = AirflowAPI.from_settings(stack.settings)
    # The first run after a start differs (no champion to compare with, the model server loads
    # its first model): the measured runs are steady-state runs.
    ensure_champion(stack, api)
    dags: list[DagRunTiming] = []
    plains: list[PlainTiming] = []
    for _ in range(repeat):
        # Alternated, so that a busy moment of the shared machine does not fall on one side only.
        dags.append(run_dag(api, during=during_dag() if during_dag else None))
        plains.append(run_plain(stack, during=during_plain() if during_plain else None))

    figures = {
        "dag.trigger_to_success_s": figure([d.trigger_to_success_s for d in dags], "s"),
        "dag.run_s": figure([d.run_s for d in dags], "s"),
        "plain.wall_s": figure([p.wall_s for p in plains], "s"),
        "ratio.dag_over_plain": ratio_figure([d.trigger_to_success_s for d in dags],
                                             [p.wall_s for p in plains]),
    }
    for task_id in dags[0].tasks:
        figures[f"task.{task_id}_s"] = figure([d.tasks[task_id]["seconds"] for d in dags], "s")
    for task_id in dags[0].gaps:
        figures[f"gap_before.{task_id}_s"] = figure([d.gaps[task_id] for d in dags], "s")
    figures["gap.sum_s"] = figure([sum(d.gaps.values()) for d in dags], "s")
    for step in plains[0].steps:
        figures[f"plain.{step}_s"] = figure([p.steps[step] for p in plains], "s")
    return {
        "figures": figures,
        "details": {"dag_runs": [d.run_id for d in dags], "memory_sampled": during_dag is not None,
                    "mapped_instances_s": [d.tasks.get("model_training", {}).get("instances")
                                           for d in dags]},
        "notes": [
            "trigger_to_success: from the REST trigger to the run seen as success (polled every "
            "0.25 s); gap_before.X: X's start minus the end of its last upstream task (for the "
            "first tasks: minus the run's start), i.e. the scheduler's share.",
            "plain: the same step functions in DAG order in one fresh Python process (imports "
            "included), candidates trained one after another, against the same MLflow, IDS and "
            "model server.",
            "When the memory benchmark runs too, both sides are sampled alike (PSS of the stack "
            "every 1.5 s), so the sampler's cost falls on both.",
        ],
    }
