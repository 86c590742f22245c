"""The test harness: unit tests first, then integration tests against a stack of their own.

Integration tests get a live stack from the `live_stack` fixture:
- STACK=external: the stack that `.env` describes, already running; the tests neither start nor
  stop it.
- STACK=compose (`make test-compose`): a private Compose stack of the unchanged
  docker-compose.yml, with its own project name, `.env` and free ports (tests/compose/), on the
  user's Docker engine or, where none runs, on a private one with stand-in base images.
- otherwise: a private native stack with its own `.env`, state folder and free ports, started
  from nothing for the session and stopped at its end, so a stack you run with `make up` is
  never touched. It starts in the background as soon as collection shows that a test needs it,
  so that it comes up while the unit tests run; the first test that needs it waits for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.private import make_private_folder, stack_command, stack_process, write_private_env
from stack.settings import REPO_ROOT, Settings, load_settings

ARTIFACTS = REPO_ROOT / "test-artifacts"
IDS_TESTS = REPO_ROOT / "tests" / "ids"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Under Compose: the integration tests and the IDS tests (which then run the ids-mock image),
    # but not the tests of the native runner itself. Deselected, not skipped: they run in `make test`.
    if os.environ.get("STACK") == "compose":
        def applies(item: pytest.Item) -> bool:
            return not item.get_closest_marker("native") and (
                item.get_closest_marker("integration") is not None or IDS_TESTS in item.path.parents)

        left_out = [item for item in items if not applies(item)]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [item for item in items if applies(item)]
    # Unit tests first: they are fast and need no stack.
    items.sort(key=lambda item: item.get_closest_marker("integration") is not None)


# -- how long each part takes (the budget is per part) ------------------------------------------

PART_STARTS = pytest.StashKey[dict[str, float]]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    part = "integration" if item.get_closest_marker("integration") else "unit"
    item.config.stash.setdefault(PART_STARTS, {}).setdefault(part, time.monotonic())
    # STACK=external names a stack started elsewhere (under STACK=compose, `native` tests are
    # deselected above): say why a test cannot run, rather than crash or stop someone's stack.
    if os.environ.get("STACK") == "external":
        if item.get_closest_marker("native"):
            pytest.skip("needs the native runner's own processes (supervisord, process trees), "
                        "and STACK=external names a stack started elsewhere; run without STACK "
                        "to test a private native stack")
        if item.get_closest_marker("controls_stack"):
            pytest.skip("stops, kills or restarts services, and STACK=external names a stack "
                        "these tests did not start (they never stop it); run without STACK to "
                        "test a private stack")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    starts = config.stash.get(PART_STARTS, {})
    if not starts:
        return
    ends = {"unit": starts.get("integration", time.monotonic()), "integration": time.monotonic()}
    terminalreporter.write_line("time per part: " + ", ".join(
        f"{part} tests {ends[part] - start:.0f}s" for part, start in starts.items()))


# The fault tests sit through every retry wait. Task retries wait 4-8 s (Airflow adds up to as much
# again), not 20-40 s: still time for a test to act while a retry waits, which takes it 1-2 s. The IDS
# client's own retries within one try back off from 0.2 s, not 1 s.
TEST_ENV = {"TASK_RETRY_DELAY_SECONDS": "4", "IDS_RETRY_BACKOFF_SECONDS": "0.2"}


def write_test_env(folder: Path, **overrides: str) -> Path:
    """A private `.env` (stack.private) with the shorter retry waits of TEST_ENV."""
    return write_private_env(folder, **{**TEST_ENV, **overrides})


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

    @property
    def compose(self):
        """The Compose stack's service control (tests.compose.control), or None if native."""
        if self.native:
            return None
        from tests.compose.control import ComposeControl

        return ComposeControl(self.settings)

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
        if self.compose:
            return self.compose.stop_service(name)
        self._supervisor().rpc.supervisor.stopProcess(name, True)

    def start_service(self, name: str) -> None:
        """Start `name` and wait until its process runs (not until it is ready: see `ready`)."""
        if self.compose:
            return self.compose.start_service(name)
        self._supervisor().rpc.supervisor.startProcess(name, True)

    def kill_service(self, name: str) -> int:
        """SIGKILL the process group of `name`, as a crash would; return the pid killed."""
        if self.compose:
            return self.compose.kill_service(name)
        pid = self._supervisor().info(name)["pid"]
        if not pid:
            raise RuntimeError(f"{name} is not running")
        os.killpg(pid, signal.SIGKILL)
        return pid

    @property
    def native(self) -> bool:
        """Whether the native runner runs this stack (else Compose does)."""
        from stack.__main__ import choose_runner
        from stack.native.runner import NativeRunner

        return isinstance(choose_runner(self.settings), NativeRunner)

    def processes(self) -> list:
        """Every process of the stack: supervisord's tree, or each container's."""
        from bench.measure import process_tree

        if self.compose:
            return [p for pid in self.compose.root_pids() for p in process_tree(pid)]
        from stack.native.layout import Layout
        from stack.native.supervisor import Supervisor

        pid = Supervisor(Layout(self.settings.state_dir)).pid
        return [] if pid is None else process_tree(pid)

    def service_pid(self, name: str) -> int:
        """The pid of `name`'s main process, 0 while it does not run."""
        if self.compose:
            return self.compose.service_pid(name)
        return self._supervisor().info(name)["pid"]

    def task_environment(self) -> dict[str, str]:
        """The environment Airflow's tasks run with, as this stack's runner gives it."""
        if self.compose:
            return self.compose.service_environment("airflow-scheduler")
        from stack.native.backends import load as load_backends
        from stack.native.layout import Layout
        from stack.native.programs import airflow_environment, base_environment

        layout = Layout(self.settings.state_dir)
        return {**base_environment(),
                **airflow_environment(self.settings, load_backends(layout), layout)}

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


@dataclass
class PrivateStack:
    """The session's private stack: its folder, and `up` while it runs in the background."""

    folder: Path
    env_file: Path
    starting: subprocess.Popen | None = None
    compose: object | None = None  # tests.compose.session.ComposeSession under STACK=compose


PRIVATE_STACK = pytest.StashKey[PrivateStack]()


def pytest_collection_finish(session: pytest.Session) -> None:
    if os.environ.get("STACK") == "external":
        return
    if not any("live_stack" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    folder = make_test_folder()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("STACK") == "compose":
        from tests.compose.session import ComposeSession

        env_file = write_test_env(folder, STACK="compose", PROJECTS_DIR=str(folder / "projects"),
                                  COMPOSE_PROJECT_NAME=f"mlops-test-{folder.name[-8:].lower()}",
                                  AIRFLOW_UID=str(os.getuid()))
        (folder / "projects").mkdir()
        private = PrivateStack(folder, env_file, compose=ComposeSession(env_file))
        session.config.stash[PRIVATE_STACK] = private
        # Now, not in the fixture: the IDS tests, which run first, run the ids-mock image.
        prepared = private.compose.prepare()
        if reporter is not None:
            reporter.write_line(prepared)
        return
    private = PrivateStack(folder, write_test_env(folder))
    private.starting = stack_process(private.env_file, "up")
    session.config.stash[PRIVATE_STACK] = private
    if reporter is not None:
        reporter.write_line(f"starting the integration tests' private stack in {folder} "
                            "while the unit tests run")


def pytest_sessionfinish(session: pytest.Session) -> None:
    private = session.config.stash.get(PRIVATE_STACK, None)
    if private is None:
        return
    if private.compose is not None:
        private.compose.stop()
    else:
        if private.starting is not None:  # no test needed it after all (-x, interrupted, ...)
            private.starting.communicate()
        stack_cli(private.env_file, "down", check=False)
    if os.environ.get("KEEP_TEST_STACK"):
        print(f"test stack state kept in {private.folder}")
    else:
        shutil.rmtree(private.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def live_stack(request: pytest.FixtureRequest) -> LiveStack:
    if os.environ.get("STACK") == "external":
        stack = LiveStack(REPO_ROOT / ".env", managed=False)
        stack_cli(stack.env_file, "status")
        return stack
    private = request.config.stash[PRIVATE_STACK]
    stack = LiveStack(private.env_file, managed=True)
    if private.compose is not None:
        stack.up_output = private.compose.start()
        print(stack.up_output)
        return stack
    process, private.starting = private.starting, None
    stdout, stderr = process.communicate(timeout=900)
    print(stdout, stderr, sep="\n")
    if process.returncode != 0:
        raise AssertionError(f"stack up failed ({process.returncode}):\n{stdout}\n{stderr}")
    stack.up_output = stdout
    return stack
