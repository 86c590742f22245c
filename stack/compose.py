"""The Compose runner: `docker compose` does the starting; we prove readiness as a client would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from stack.native.layout import Layout
from stack.readiness import CHECKS, NotReady, Probe
from stack.services import SERVICES, Service
from stack.settings import REPO_ROOT, Settings
from stack.startup import bring_up, print_outcome

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
# Overlays of the main file, each added when `.env` switches on what it describes: the Celery
# executor (its services are in the `celery` profile of the main file) and the logins that
# MLflow and the model server ask for only then.
OVERLAYS: dict[Path, Callable[[Settings], bool]] = {
    REPO_ROOT / "docker-compose.celery.yml": lambda s: s.celery,
    REPO_ROOT / "docker-compose.mlflow-login.yml": lambda s: s.mlflow_auth is not None,
    REPO_ROOT / "docker-compose.model-server-login.yml": lambda s: s.model_server_auth is not None,
}
COMPOSE_FILES = (COMPOSE_FILE, *OVERLAYS)


def compose_files(settings: Settings) -> list[Path]:
    """The main file and the overlays `settings` switch on."""
    return [COMPOSE_FILE, *(path for path, wanted in OVERLAYS.items() if wanted(settings))]


def engine_available(timeout: float = 5) -> bool:
    """True when a Docker engine answers (the `docker` client alone is not enough)."""
    try:
        result = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                                capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def project_volumes(project: str, timeout: float = 10) -> list[str]:
    """The Docker volumes of Compose project `project` (databases, objects, logs); needs an engine."""
    result = subprocess.run(["docker", "volume", "ls", "--quiet", "--filter",
                             f"label=com.docker.compose.project={project}"],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"`docker volume ls` failed: {result.stderr.strip()}")
    return result.stdout.split()


class ComposeRunner:
    name = "compose"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Remembers, where the native runner keeps its state, that Compose's volumes hold data:
        # with the engine stopped, `make up` could otherwise start an empty native stack.
        self.marker = Layout(settings.state_dir).compose_marker

    def _command(self, *args: str) -> list[str]:
        # AIRFLOW_EXECUTOR=celery: also the profile that adds Redis and the workers.
        files = compose_files(self.settings)
        return ["docker", "compose", "--project-directory", str(REPO_ROOT),
                "--project-name", self.settings.get("COMPOSE_PROJECT_NAME"),
                *[word for path in files for word in ("-f", str(path))],
                *(["--profile", "celery"] if self.settings.celery else []),
                "--env-file", str(self.settings.path), *args]

    def services(self) -> list[Service]:
        """The services of stack/services.py this stack runs (Celery's only with the executor)."""
        return [s for s in SERVICES if s.backend != "celery" or self.settings.celery]

    def _compose(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self._command(*args), check=check, **kwargs)

    def probe(self) -> Probe:
        # Airflow's tasks reach MLflow by its service name: prove that Host header is accepted.
        return Probe(self.settings, mlflow_host="mlflow:5000")  # the fixed container port

    def _container_failure(self, service: Service) -> str | None:
        result = self._compose("ps", "-a", "--format", "json", service.name, check=False,
                               capture_output=True, text=True)
        for line in result.stdout.splitlines():
            info = json.loads(line)
            if info.get("State") == "exited" and info.get("ExitCode", 0) != 0:
                return (f"container exited with status {info['ExitCode']}; "
                        f"see `make logs SERVICE={service.name}`")
        return None

    def up(self) -> bool:
        print("Starting the Compose stack (images are built on first start) ...", flush=True)
        self.marker.parent.mkdir(parents=True, exist_ok=True)
        self.marker.write_text(self.settings.get("COMPOSE_PROJECT_NAME") + "\n")
        scale = (["--scale", f"airflow-worker={self.settings.get('AIRFLOW_CELERY_WORKERS')}"]
                 if self.settings.celery else [])
        self._compose("up", "--detach", "--build", *scale)
        daemons = [s for s in self.services() if not s.one_shot]
        # Compose orders the start by its health checks; we wait on the users' path too.
        plain = [Service(s.name, s.summary, ports=s.ports) for s in daemons]
        outcomes = bring_up(plain, self.probe(), self.settings.health_timeout,
                            start=lambda s: None, failure=self._container_failure,
                            report=print_outcome)
        if any(o.error for o in outcomes):
            print("Stopping the stack, so nothing is left half-running ...", file=sys.stderr)
            self._compose("stop", check=False)
            return False
        return True

    def down(self) -> None:
        self._compose("down")

    def status(self) -> bool:
        self._compose("ps", "-a", check=False)
        healthy = True
        for service in self.services():
            if service.one_shot:
                continue
            try:
                CHECKS[service.name](self.probe())
                print(f"  {service.name:<22} ready")
            except NotReady as error:
                healthy = False
                print(f"  {service.name:<22} NOT READY: {error}")
        return healthy

    def logs(self, service: str | None) -> None:
        os.execvp("docker", self._command("logs", "--follow", "--tail", "50",
                                          *([service] if service else [])))

    def clean(self) -> None:
        self._compose("down", "--volumes")
        self.marker.unlink(missing_ok=True)
