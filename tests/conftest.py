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
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack.private import make_private_folder, stack_command, write_private_env
from stack.settings import REPO_ROOT, Settings, load_settings

ARTIFACTS = REPO_ROOT / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Unit tests first: they are fast and need no stack.
    items.sort(key=lambda item: item.get_closest_marker("integration") is not None)


def write_test_env(folder: Path, **overrides: str) -> Path:
    """A private `.env` (stack.private) whose task retries wait 10 s, not 20 s: the fault tests
    sit through them, and 10 s still leaves them time to act while a retry waits."""
    return write_private_env(folder, **{"TASK_RETRY_DELAY_SECONDS": "10", **overrides})


def stack_cli(env_file: Path, *args: str, timeout: float = 600,
              check: bool = True) -> subprocess.CompletedProcess:
    """Run `python -m stack --env-file ENV ARGS`; show its output in the test log."""
    result = stack_command(env_file, *args, timeout=timeout)
    print(result.stdout, result.stderr, sep="\n")
    if check and result.returncode != 0:
        raise AssertionError(f"stack {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def make_test_folder() -> Path:
    return make_private_folder("mlops-test-")


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
