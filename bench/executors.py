"""Executors compared: the example DAG under the CeleryExecutor beside the LocalExecutor.

The benchmark's own stack runs the LocalExecutor; a second private stack, the same but for
AIRFLOW_EXECUTOR=celery (Redis and AIRFLOW_CELERY_WORKERS workers on this machine), runs beside
it. Runs alternate between the two, so the cost of distribution is one figure of one run.
"""

from __future__ import annotations

from typing import Any

from bench import pipeline
from bench.measure import figure, ratio_figure
from bench.private_stack import PrivateStack
from stack.airflow_api import AirflowAPI


def measure(local: PrivateStack, repeat: int, **overrides: str) -> dict[str, Any]:
    celery = PrivateStack.create(AIRFLOW_EXECUTOR="celery", **overrides)
    try:
        up = celery.up()
        stacks = {"local": local, "celery": celery}
        apis = {name: AirflowAPI.from_settings(stack.settings) for name, stack in stacks.items()}
        # Steady-state runs on both sides: each registry holds a champion to compare with.
        for name, stack in stacks.items():
            pipeline.ensure_champion(stack, apis[name])
        runs: dict[str, list[pipeline.DagRunTiming]] = {"local": [], "celery": []}
        for _ in range(repeat):
            for name in stacks:
                runs[name].append(pipeline.run_dag(apis[name]))
        settings = celery.settings
        figures = {"celery.stack_up_s": figure([up.seconds], "s")}
        for name, timings in runs.items():
            figures[f"{name}.trigger_to_success_s"] = figure(
                [t.trigger_to_success_s for t in timings], "s")
            figures[f"{name}.gap.sum_s"] = figure([sum(t.gaps.values()) for t in timings], "s")
        figures["ratio.celery_over_local"] = ratio_figure(
            [t.trigger_to_success_s for t in runs["celery"]],
            [t.trigger_to_success_s for t in runs["local"]])
        return {
            "figures": figures,
            "details": {"workers": settings.int("AIRFLOW_CELERY_WORKERS"),
                        "worker_concurrency": settings.int("AIRFLOW_CELERY_WORKER_CONCURRENCY"),
                        "dag_runs": {name: [t.run_id for t in timings]
                                     for name, timings in runs.items()}},
            "notes": [
                "Both stacks run at once on this machine, each idle while the other's run goes, "
                "and runs alternate: local, celery, local, ...",
                "celery: the same DAG through Redis to the workers; gap.sum is the time between "
                "dependent tasks (scheduler, broker and worker pick-up).",
            ],
        }
    finally:
        if celery.running():
            celery.down()
        celery.remove()
