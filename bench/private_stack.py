"""A native stack of the benchmark's own: its own `.env`, state folder and free ports.

The user's stack (`make up`, the repository's `.env`, the default ports) is never touched: every
command here names the private `.env` explicitly, as the integration tests do.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from stack.native import backends as backend_choice
from stack.native.layout import Layout
from stack.native.programs import base_environment, client_environment
from stack.native.runner import NativeRunner
from stack.native.supervisor import Supervisor
from stack.private import make_private_folder, stack_command, write_private_env
from stack.readiness import Probe
from stack.services import BY_NAME
from stack.settings import Settings, load_settings

READY_LINE = re.compile(r"✓\s+(\S+)\s+ready after\s+([\d.]+)s")


@dataclass
class UpReport:
    """One `python -m stack up`: its wall time and when each service became ready."""

    seconds: float
    ready: dict[str, float] = field(default_factory=dict)
    output: str = ""


class PrivateStack:
    """One private native stack; `up`/`down` run the platform's own CLI against its `.env`."""

    def __init__(self, folder: Path, env_file: Path) -> None:
        self.folder = folder
        self.env_file = env_file

    @classmethod
    def create(cls, **overrides: str) -> PrivateStack:
        folder = make_private_folder("mlops-bench-")
        return cls(folder, write_private_env(folder, **overrides))

    @property
    def settings(self) -> Settings:
        # environ={}: a variable of the user's shell must not move the private stack.
        return load_settings(self.env_file, environ={})

    def _cli(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return stack_command(self.env_file, *args, timeout=timeout)

    def up(self) -> UpReport:
        """Start every service and wait until all are ready (what `make up` does)."""
        started = time.monotonic()
        result = self._cli("up")
        seconds = time.monotonic() - started
        if result.returncode != 0:
            raise RuntimeError(f"the private stack did not start ({result.returncode}):\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        ready = {name: float(s) for name, s in READY_LINE.findall(result.stdout)}
        return UpReport(seconds, ready, result.stdout)

    def down(self) -> None:
        result = self._cli("down")
        if result.returncode != 0:
            raise RuntimeError(f"stack down failed: {result.stdout}\n{result.stderr}")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- what runs ------------------------------------------------------------------------

    @property
    def layout(self) -> Layout:
        return Layout(self.settings.state_dir)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.layout)

    def running(self) -> bool:
        return self.supervisor.running()

    def service_pids(self) -> dict[str, int]:
        """The pid of each long-running service's main process (supervisord's children)."""
        return {info["name"]: info["pid"] for info in self.supervisor.all_info()
                if info["statename"] == "RUNNING" and info["pid"]}

    def backends(self) -> backend_choice.Backends:
        chosen = backend_choice.load(self.layout)
        if chosen is None:
            raise RuntimeError(f"{self.layout.backends_file} is missing: the stack never started")
        return chosen

    def client_environment(self) -> dict[str, str]:
        """The environment Airflow's tasks get to reach MLflow, S3, IDS and the model server."""
        return {**base_environment(), **client_environment(self.settings, self.backends())}

    def probe(self) -> Probe:
        return NativeRunner(self.settings).probe()

    def dependencies(self, name: str) -> tuple[str, ...]:
        return BY_NAME[name].depends_on
