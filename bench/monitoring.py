"""Monitoring: one run of the template's monitoring DAG, beside the same check in a plain process.

Before the measured runs, traffic drawn like the training data goes through the model server and
the runs wait until its inference log holds it, so every check reads the log, runs Evidently on
every column, writes the report and logs its MLflow run: the work a scheduled check does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.measure import figure, ratio_figure
from bench.pipeline import RUN_TIMEOUT, prepare, run_dag
from bench.private_stack import PrivateStack
from project_template import config as TEMPLATE
from stack.airflow_api import AirflowAPI
from stack.drift_traffic import logged_rows, send, training_like_rows
from stack.settings import REPO_ROOT

ROWS = 500
LOG_TIMEOUT = 120.0


def serve_traffic(stack: PrivateStack, rows: int) -> datetime:
    """Send `rows` training-like rows to the model server; return once its log holds them."""
    settings = stack.settings
    since = datetime.now(UTC)
    send(settings.model_server_url, TEMPLATE.REGISTERED_MODEL_NAME,
         training_like_rows(TEMPLATE, rows, seed=0), per_request=50)
    deadline = time.monotonic() + LOG_TIMEOUT
    while logged_rows(settings, TEMPLATE.INFERENCE_LOG_PREFIX, TEMPLATE.REGISTERED_MODEL_NAME,
                      since) < rows:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the inference log did not hold {rows} rows within "
                               f"{LOG_TIMEOUT:.0f} s of sending them")
        time.sleep(1)
    return since


def run_plain(stack: PrivateStack, since: datetime) -> tuple[float, dict[str, float]]:
    argv = [sys.executable, "-m", "bench.plain_monitoring", "--since", since.isoformat()]
    started = time.monotonic()
    result = subprocess.run(argv, cwd=REPO_ROOT, env=stack.client_environment(),
                            capture_output=True, text=True, timeout=RUN_TIMEOUT)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"the plain check failed ({result.returncode}):\n"
                           f"{result.stderr[-4000:]}")
    return wall, json.loads(result.stdout.strip().splitlines()[-1])["steps"]


def measure(stack: PrivateStack, repeat: int, quick: bool = False) -> dict[str, Any]:
    """`repeat` monitoring DAG runs and plain checks, alternated, on the same served rows."""
    api = AirflowAPI.from_settings(stack.settings)
    dag_id = TEMPLATE.MONITORING_DAG_ID
    prepare(api, dag_id)
    rows = ROWS // 5 if quick else ROWS
    since = serve_traffic(stack, rows)
    conf = {"since": since.isoformat()}
    dags, plains = [], []
    for _ in range(repeat):
        dags.append(run_dag(api, conf=conf, dag_id=dag_id))
        plains.append(run_plain(stack, since))
    figures = {
        "dag.trigger_to_success_s": figure([d.trigger_to_success_s for d in dags], "s"),
        "plain.wall_s": figure([wall for wall, _ in plains], "s"),
        "plain.check_s": figure([steps["check"] for _, steps in plains], "s"),
        "ratio.dag_over_plain": ratio_figure([d.trigger_to_success_s for d in dags],
                                             [wall for wall, _ in plains]),
    }
    for task_id in dags[0].tasks:
        figures[f"task.{task_id}_s"] = figure([d.tasks[task_id]["seconds"] for d in dags], "s")
    return {
        "figures": figures,
        "details": {"dag_runs": [d.run_id for d in dags], "served_rows": rows,
                    "features": len(TEMPLATE.FEATURE_COLUMNS)},
        "notes": [
            f"{rows} rows drawn like the training data, sent to the model server in requests of "
            f"50 and read back from its inference log by every check (DAG param since); no "
            f"newer labeled batch, so each check is one Evidently drift report.",
            "trigger_to_success: from the REST trigger to the run seen as success (polled every "
            "0.25 s); task.request_retraining is skipped (no drift), as on most hours.",
            "plain: run_check in one fresh Python process (imports included) against the same "
            "MLflow; ratio.dag_over_plain is Airflow's share.",
        ],
    }
