"""The IDS tests against the ids-mock image: each mock connector as a container, not a process.

Under STACK=compose (`make test-compose`) the IDS suite runs the image the Compose stack runs,
with the settings each test gives, instead of `python -m ids_mock` from the source tree. The
container shares the host's network (it binds 127.0.0.1 and the test's free ports) and sees the
test's data, certificate and seed folders at their own paths, so the tests read them unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field

import httpx

from tests.ids.mock_processes import API_AUTH, MockProcess

# Set by the Compose suite once its engine holds the image (tests.compose.session).
IMAGE_VARIABLE = "IDS_MOCK_TEST_IMAGE"


def images_run_here() -> bool:
    """Whether the IDS tests run the image: under `make test-compose`, once it is built."""
    return bool(os.environ.get(IMAGE_VARIABLE))


@dataclass
class ContainerPid:
    """Enough of a Popen for the tests: the host pid of the container's main process."""

    pid: int


@dataclass
class MockContainer(MockProcess):
    container: str = field(default_factory=lambda: f"ids-mock-test-{uuid.uuid4().hex[:8]}")

    def _mounts(self) -> list[str]:
        folders = {self.data_dir, self.cert_dir}
        seed = self.extra_env.get("IDS_SEED_FILE")
        if seed:
            folders.add(os.path.dirname(seed))
        for folder in folders:
            os.makedirs(folder, exist_ok=True)
        return [arg for folder in sorted(map(str, folders)) for arg in ("-v", f"{folder}:{folder}")]

    def start(self, timeout: float = 60.0) -> MockContainer:
        env = {k: v for k, v in self.env().items() if k.startswith("IDS_")}
        env["IDS_BIND_HOST"] = "127.0.0.1"  # the host's network: loopback only, as natively
        subprocess.run(["docker", "rm", "-f", self.container], capture_output=True)
        subprocess.run(
            ["docker", "run", "--detach", "--name", self.container, "--network", "host",
             "--user", f"{os.getuid()}:{os.getgid()}", *self._mounts(),
             *[arg for k, v in env.items() for arg in ("-e", f"{k}={v}")],
             os.environ[IMAGE_VARIABLE], "serve", "--role", self.role],
            check=True, capture_output=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self._state()
            if not state.get("Running"):
                raise RuntimeError(f"ids-mock {self.role} container exited:\n{self.log_tail()}")
            try:
                if httpx.get(self.api_url + "/", auth=API_AUTH, verify=False,
                             timeout=2).status_code == 200:
                    self.process = ContainerPid(state["Pid"])  # type: ignore[assignment]
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"ids-mock {self.role} not ready in {timeout}s:\n{self.log_tail()}")

    def _state(self) -> dict:
        result = subprocess.run(["docker", "inspect", "--format", "{{json .State}}", self.container],
                                capture_output=True, text=True)
        return json.loads(result.stdout) if result.returncode == 0 else {}

    def stop(self) -> int | None:
        """Stop the container (its stop signal, then a kill after 15 s); its exit code."""
        if not self._state():
            return None
        self.log_path.write_text(self._logs())
        subprocess.run(["docker", "stop", "--time", "15", self.container], capture_output=True)
        code = self._state().get("ExitCode")
        subprocess.run(["docker", "rm", "-f", self.container], capture_output=True)
        return code

    def _logs(self) -> str:
        result = subprocess.run(["docker", "logs", self.container], capture_output=True, text=True)
        return result.stdout + result.stderr

    def log_tail(self, lines: int = 40) -> str:
        text = self._logs() if self._state() else (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else "")
        return "\n".join(text.splitlines()[-lines:])
