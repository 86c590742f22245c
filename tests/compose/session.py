"""The Compose suite's stack: the unchanged docker-compose.yml, brought up by testcontainers.

A private project name, `.env` and free ports, so a stack of the user's own `make up` (Compose
or native) is never touched; `down --volumes` at the end removes only this project's volumes.
A service that fails to become healthy has its log in the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from testcontainers.compose import DockerCompose

from stack.compose import COMPOSE_FILE
from stack.settings import REPO_ROOT, load_settings
from tests.compose.engine import Engine, ensure_engine
from tests.compose.images import prepare_images
from tests.ids.mock_containers import IMAGE_VARIABLE


class ComposeSession:
    def __init__(self, env_file: Path) -> None:
        self.env_file = env_file
        self.project = load_settings(env_file, environ={}).get("COMPOSE_PROJECT_NAME")
        self.engine: Engine | None = None
        self.compose = DockerCompose(REPO_ROOT, compose_file_name=COMPOSE_FILE.name,
                                     env_file=str(env_file), wait=True)

    def prepare(self) -> str:
        """The engine and every image; what it took, as text for the test log."""
        started = time.monotonic()
        self.engine = ensure_engine()
        # Every client of this session (the stack CLI, testcontainers, the tests) uses this engine.
        os.environ.update(self.engine.env)
        os.environ["COMPOSE_PROJECT_NAME"] = self.project
        ours = prepare_images(self.engine, self.env_file)
        # The IDS tests then run the mock connector's image (tests/ids/mock_containers.py).
        (os.environ[IMAGE_VARIABLE],) = [tag for tag, context in ours.items()
                                         if context.name == "ids-mock"]
        return (f"engine and images ready in {time.monotonic() - started:.0f}s "
                f"({'private' if self.engine.private else 'your own'} engine)")

    def start(self) -> str:
        """`up --wait`; what it took, as text for the test log."""
        started = time.monotonic()
        try:
            self.compose.start()
        except subprocess.CalledProcessError as error:
            raise AssertionError(f"docker compose up --wait failed:\n{error.stderr or ''}\n"
                                 f"{self.failed_services_logs()}") from error
        return f"stack healthy in {time.monotonic() - started:.0f}s"

    def failed_services_logs(self, tail: int = 80) -> str:
        """The log tails of every service that is not running healthy, or exited non-zero."""
        command = self.compose.docker_compose_command()
        result = subprocess.run([*command, "ps", "--all", "--format", "json"],
                                capture_output=True, text=True)
        reports = []
        for line in result.stdout.splitlines():
            info = json.loads(line)
            healthy = info.get("Health") in ("", "healthy") and info.get("State") == "running"
            finished = info.get("State") == "exited" and info.get("ExitCode") == 0
            if healthy or finished:
                continue
            logs = subprocess.run([*command, "logs", "--no-color", "--tail", str(tail),
                                   info["Service"]], capture_output=True, text=True)
            reports.append(f"--- {info['Service']} ({info.get('State')}, {info.get('Health')}, "
                           f"exit {info.get('ExitCode')}):\n{logs.stdout}{logs.stderr}")
        return "\n".join(reports) or "(every container is running or finished cleanly)"

    def stop(self) -> None:
        """`down --volumes` for this project only, then stop the engine if it is ours."""
        try:
            self.compose.stop(down=True)
        finally:
            if self.engine is not None:
                self.engine.stop()
