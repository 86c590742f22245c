"""The host name a task instance reports: its Celery worker's name (Airflow's `hostname_callable`).

Workers on one machine share its host name; naming each one tells their tasks apart.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("AIRFLOW_WORKER_NAME") or socket.getfqdn()
