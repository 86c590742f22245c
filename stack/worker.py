"""`python -m stack worker` (`make worker`): one more Celery worker of a stack that runs elsewhere.

The machine it runs on needs a checkout of the repository (the DAG bundles: `project_template/`
and PROJECTS_DIR, at the stack's commit), `make install`, and a `.env` with the settings below;
README.md, "A worker on another machine", gives the steps. The worker runs in the foreground
(under the user's own supervisor, or a terminal), serves its tasks' logs to the API server on
AIRFLOW_WORKER_LOG_PORT, and keeps its state (Airflow's home, the logs) in STACK_STATE_DIR.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from stack.native.backends import Backends
from stack.native.layout import Layout
from stack.native.programs import base_environment, celery_worker
from stack.settings import SECRET_GENERATORS, Settings, SettingsError, load_settings

# The secrets a worker needs: the broker's, the result backend's (Airflow's database), the object
# store's (for tasks that read S3), MLflow's login, the model server's (the `deploy` task) and the
# promotion lock's. Airflow's own keys and logins stay behind.
WORKER_SECRETS = frozenset({"REDIS_PASSWORD", "AIRFLOW_DB_PASSWORD", "S3_SECRET_KEY",
                            "MLFLOW_AUTH_PASSWORD", "MODEL_SERVER_AUTH_PASSWORD",
                            "PROMOTION_LOCK_DB_PASSWORD"})
# Settings of the stack's machine alone (where it binds, keeps state, how many local workers).
_STACK_ONLY = frozenset({"STACK", "STACK_BIND_HOST", "STACK_STATE_DIR", "PROJECTS_DIR",
                         "COMPOSE_PROJECT_NAME", "AIRFLOW_UID", "AIRFLOW_CELERY_WORKERS",
                         "STACK_HEALTH_TIMEOUT", "STACK_SERVER_HOST"})


def worker_env_text(settings: Settings, server_host: str) -> str:
    """The `.env` of a worker machine, from the stack's: what its tasks and its worker need.

    Run on the stack's machine (`make worker-env SERVER=address`); the result holds secrets.
    """
    kept = {name: value for name, value in settings.values.items()
            if name not in _STACK_ONLY
            and (name not in SECRET_GENERATORS or name in WORKER_SECRETS)}
    lines = ["# A Celery worker's settings, written by `make worker-env` on the stack's machine.",
             f"STACK_SERVER_HOST={server_host}",
             *(f"{name}={value}" for name, value in kept.items())]
    return "\n".join(lines) + "\n"


def load_worker_settings(env_file: Path) -> Settings:
    settings = load_settings(env_file, secrets=WORKER_SECRETS)
    if not settings.celery:
        raise SettingsError(f"AIRFLOW_EXECUTOR is not celery in {env_file}: a worker takes tasks "
                            "only from a stack that runs the CeleryExecutor.")
    if not settings.values.get("STACK_SERVER_HOST"):
        raise SettingsError(f"STACK_SERVER_HOST is empty in {env_file}: set it to the address of "
                            "the machine that runs the stack.")
    return settings


def run_worker(env_file: Path, name: str | None) -> None:
    """Replace this process with `airflow celery worker` for the stack of `env_file`."""
    settings = load_worker_settings(env_file)
    layout = Layout(settings.state_dir)
    layout.airflow_home.mkdir(parents=True, exist_ok=True)
    # The stack's PostgreSQL and its S3 server, reached over the network: never SQLite or a folder.
    backends = Backends("postgres", "remote")
    prog = celery_worker(settings, backends, layout, name or socket.getfqdn(), serve_logs=True)
    print(f"Celery worker {prog.env['AIRFLOW_WORKER_NAME']} for the stack at "
          f"{settings.client_host} (broker port {settings.get('REDIS_PORT')}), state in "
          f"{layout.root}", flush=True)
    os.execvpe(prog.argv[0], prog.argv, {**base_environment(), **prog.env})
