"""The Airflow containers' health checks, as their clients see them: `python healthcheck.py ROLE`.

api-server: the public API's health, then the Task Execution API that tasks call (built at its
first request, which can take many seconds). scheduler: its own health server (port 8974).
dag-processor, triggerer: their job's heartbeat in Airflow's database, from this container, as
`airflow jobs check --local` reads it, without importing Airflow (tens of CPU-seconds on a
loaded machine, longer than a health check may take).
"""

import os
import socket
import sys
import urllib.request

URLS = {
    "api-server": [("http://127.0.0.1:8080/api/v2/monitor/health", 10),
                   ("http://127.0.0.1:8080/execution/health", 120)],
    "scheduler": [("http://127.0.0.1:8974/health", 10)],
}
JOBS = {"dag-processor": "DagProcessorJob", "triggerer": "TriggererJob"}
HEARTBEAT_SECONDS = 60  # generous: a busy machine delays heartbeats, a dead job stops them


def check_urls(role: str) -> None:
    for url, timeout in URLS[role]:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()


def check_job(role: str) -> None:
    import psycopg2

    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "", 1)
    with psycopg2.connect(url, connect_timeout=5) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM job WHERE job_type = %s AND state = 'running' AND hostname = %s"
            " AND latest_heartbeat > now() - make_interval(secs => %s)",
            (JOBS[role], socket.getfqdn(), HEARTBEAT_SECONDS))
        (alive,) = cursor.fetchone()
    if not alive:
        sys.exit(f"no {JOBS[role]} of this container has heartbeaten in {HEARTBEAT_SECONDS}s")


role = sys.argv[1]
check_urls(role) if role in URLS else check_job(role)
