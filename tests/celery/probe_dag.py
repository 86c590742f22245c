"""A DAG of the Celery tests: mapped tasks that hold a slot for a while and say where they ran.

The tests copy it into their private stack's projects folder (a DAG bundle of its own).
"""

from __future__ import annotations

import time
from datetime import timedelta

from airflow.sdk import dag, task


@dag(dag_id="celery_probe", schedule=None, catchup=False, tags=["test"],
     params={"seconds": 1.0, "tasks": 4},
     default_args={"retries": 2, "retry_delay": timedelta(seconds=2)})
def celery_probe():
    @task
    def slots(params=None) -> list[int]:
        return list(range(int(params["tasks"])))

    @task
    def hold(slot: int, params=None) -> int:
        time.sleep(float(params["seconds"]))
        return slot

    hold.expand(slot=slots())


celery_probe()
