"""One service of a running Compose stack at a time: what the live tests do to it.

The same operations as the native runner's supervisord offers the tests: stop a service as
`make down` would, start it, kill it as a crash would (its main process SIGKILLed, so that the
restart policy, Compose's supervision, brings it back), its pid, and every process it runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from stack.compose import ComposeRunner
from stack.settings import Settings


class ComposeControl:
    def __init__(self, settings: Settings) -> None:
        self.runner = ComposeRunner(settings)

    def _compose(self, *args: str) -> str:
        return subprocess.run(self.runner._command(*args), check=True, capture_output=True,
                              text=True).stdout

    def _container(self, name: str) -> dict | None:
        lines = self._compose("ps", "--all", "--format", "json", name).splitlines()
        return json.loads(lines[0]) if lines else None

    def _inspect(self, container_id: str) -> dict:
        return json.loads(subprocess.run(["docker", "inspect", container_id], check=True,
                                         capture_output=True, text=True).stdout)[0]

    def service_pid(self, name: str) -> int:
        """The host pid of the service's main process; 0 while its container does not run."""
        container = self._container(name)
        if container is None or container.get("State") != "running":
            return 0
        return int(self._inspect(container["ID"])["State"]["Pid"])

    def stop_service(self, name: str) -> None:
        self._compose("stop", name)

    def start_service(self, name: str) -> None:
        self._compose("start", name)
        deadline = time.monotonic() + 60
        while not self.service_pid(name):
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}'s container did not start")
            time.sleep(0.5)

    def kill_service(self, name: str) -> int:
        """SIGKILL the service's main process from outside, as a crash would; return its pid."""
        pid = self.service_pid(name)
        if not pid:
            raise RuntimeError(f"{name} is not running")
        # Not `docker kill`: the engine counts that as a manual stop and would not restart it.
        os.kill(pid, signal.SIGKILL)
        return pid

    def exec_command(self, name: str, *command: str) -> list[str]:
        """The command line that runs `command` in the service's container, as its user."""
        return self.runner._command("exec", "-T", name, *command)

    def root_pids(self) -> list[int]:
        """The host pids of every running container's main process."""
        ids = self._compose("ps", "--quiet").split()
        return [pid for pid in (int(self._inspect(i)["State"]["Pid"]) for i in ids) if pid]
