"""The test harness: unit tests first, then integration tests against a stack of their own.

Integration tests get a live stack from the `live_stack` fixture:
- STACK=external: the stack that `.env` describes, already running; the tests neither start nor
  stop it.
- otherwise: a private native stack with its own `.env`, state folder and free ports, started
  from nothing for the session and stopped at its end, so a stack you run with `make up` is
  never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.settings import REPO_ROOT, Settings, load_settings, render_env

ARTIFACTS = REPO_ROOT / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Unit tests first: they are fast and need no stack.
    items.sort(key=lambda item: item.get_closest_marker("integration") is not None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_test_env(folder: Path, **overrides: str) -> Path:
    """A fresh `.env` in `folder`: new secrets, every port free, state inside `folder`."""
    env_file = folder / ".env"
    lines = []
    for line in render_env().splitlines():
        name, sep, _ = line.partition("=")
        if sep and not line.startswith("#"):
            if name in overrides:
                line = f"{name}={overrides[name]}"
            elif name.endswith("_PORT"):
                line = f"{name}={free_port()}"
        lines.append(line)
    # Retries wait 10 s, not 20 s: the fault tests sit through them (still long enough for the
    # fault tests to act while a retry waits).
    defaults = {"STACK": "native", "STACK_STATE_DIR": str(folder / "state"),
                "TASK_RETRY_DELAY_SECONDS": "10"}
    for name, value in defaults.items():
        if name not in overrides:
            lines = [f"{name}={value}" if ln.startswith(f"{name}=") else ln for ln in lines]
    env_file.write_text("\n".join(lines) + "\n")
    return env_file


def stack_cli(env_file: Path, *args: str, timeout: float = 600,
              check: bool = True) -> subprocess.CompletedProcess:
    """Run `python -m stack --env-file ENV ARGS`; show its output in the test log."""
    env = {k: v for k, v in os.environ.items() if k not in _example_names()}
    result = subprocess.run([sys.executable, "-m", "stack", "--env-file", str(env_file), *args],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    print(result.stdout, result.stderr, sep="\n")
    if check and result.returncode != 0:
        raise AssertionError(f"stack {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def _example_names() -> set[str]:
    from stack.settings import example_variables

    return set(example_variables())


def make_test_folder() -> Path:
    # Under /tmp and world-traversable: the `postgres` user must reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix="mlops-test-"))
    folder.chmod(0o755)
    return folder


class LiveStack:
    """A running stack and how to restart it; `settings` says where everything is."""

    def __init__(self, env_file: Path, managed: bool) -> None:
        self.env_file = env_file
        self.managed = managed
        self.up_output = ""

    @property
    def settings(self) -> Settings:
        return load_settings(self.env_file, environ={})

    def up(self) -> subprocess.CompletedProcess:
        result = stack_cli(self.env_file, "up")
        self.up_output = result.stdout
        return result

    def down(self) -> subprocess.CompletedProcess:
        return stack_cli(self.env_file, "down")

    def restart(self) -> None:
        self.down()
        self.up()

    # -- one service at a time, whatever the runner ---------------------------------------------

    def _supervisor(self):
        from stack.native.layout import Layout
        from stack.native.supervisor import Supervisor

        supervisor = Supervisor(Layout(self.settings.state_dir))
        if not supervisor.running():
            raise NotImplementedError(
                f"controlling one service needs the native runner's supervisord, which does not "
                f"run for {self.env_file} (STACK={self.settings.runner or 'auto'})")
        return supervisor

    def stop_service(self, name: str) -> None:
        """Stop `name` as `make down` would (its stop signal to the process group); wait."""
        self._supervisor().rpc.supervisor.stopProcess(name, True)

    def start_service(self, name: str) -> None:
        """Start `name` and wait until its process runs (not until it is ready: see `ready`)."""
        self._supervisor().rpc.supervisor.startProcess(name, True)

    def kill_service(self, name: str) -> int:
        """SIGKILL the process group of `name`, as a crash would; return the pid killed."""
        pid = self._supervisor().info(name)["pid"]
        if not pid:
            raise RuntimeError(f"{name} is not running")
        os.killpg(pid, signal.SIGKILL)
        return pid

    def service_pid(self, name: str) -> int:
        """The pid of `name`'s main process, 0 while it does not run."""
        return self._supervisor().info(name)["pid"]

    def ready(self, name: str, timeout: float = 180) -> None:
        """Wait until `name` passes its readiness check (stack.readiness.CHECKS)."""
        from stack.__main__ import choose_runner
        from stack.readiness import CHECKS, NotReady

        probe = choose_runner(self.settings).probe()
        deadline = time.monotonic() + timeout
        while True:
            try:
                CHECKS[name](probe)
                return
            except NotReady as error:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name} not ready after {timeout:.0f}s: {error}") from error
            time.sleep(1)


@pytest.fixture(scope="session")
def live_stack() -> Iterator[LiveStack]:
    if os.environ.get("STACK") == "external":
        stack = LiveStack(REPO_ROOT / ".env", managed=False)
        stack_cli(stack.env_file, "status")
        yield stack
        return
    folder = make_test_folder()
    stack = LiveStack(write_test_env(folder), managed=True)
    try:
        stack.up()
        yield stack
    finally:
        stack_cli(stack.env_file, "down", check=False)
        if os.environ.get("KEEP_TEST_STACK"):
            print(f"test stack state kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
