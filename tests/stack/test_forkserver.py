"""The native runner's Airflow fork server (airflow/forkserver.py) and its client (forked.py).

The server here serves a stand-in command instead of Airflow's CLI: the protocol, the process
group, the descriptors, the exit codes and the clean-up are what is tested; that Airflow's four
components run forked is proven by every live test of the native stack.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from stack.settings import REPO_ROOT

FORKSERVER = REPO_ROOT / "airflow" / "forkserver.py"
CLIENT = REPO_ROOT / "airflow" / "forked.py"

# The server's loop as airflow/forkserver.py runs it; a forked child then runs the stand-in.
HARNESS = """
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location("forkserver", sys.argv[1])
forkserver = sys.modules["forkserver"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(forkserver)
listener = forkserver.listen(sys.argv[2])
print("serving", flush=True)
if forkserver.ForkServer(listener).serve() is None:
    sys.exit(0)
command = sys.argv[1:]  # the child's sys.argv is ["airflow", *what the client asked]
print(f"child argv={command} pgid={os.getpgrp()}", flush=True)
if command[0] == "exit":
    sys.exit(int(command[1]))
time.sleep(600)
"""


@pytest.fixture
def server(tmp_path: Path):
    path = tmp_path / "fork.sock"
    log = (tmp_path / "server.log").open("w+")
    process = subprocess.Popen([sys.executable, "-c", HARNESS, str(FORKSERVER), str(path)],
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    while not path.exists():
        assert time.monotonic() < deadline, "the fork server did not listen"
        assert process.poll() is None, Path(log.name).read_text()
        time.sleep(0.05)
    yield path, Path(log.name)
    process.terminate()
    process.wait(10)
    log.close()


def client(path: Path, *argv: str, wait: str = "30", **kwargs) -> subprocess.Popen:
    env = {**os.environ, "AIRFLOW_FORKSERVER_SOCKET": str(path), "AIRFLOW_FORKSERVER_WAIT": wait}
    # A group of its own, as supervisord gives each program.
    return subprocess.Popen([sys.executable, "-S", str(CLIENT), *argv], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0,
                            **kwargs)


def forked_pid(log: Path, argv: str, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith(f"forkserver: `airflow {argv}` is pid "):
                return int(line.rsplit(" ", 1)[1])
        time.sleep(0.05)
    raise AssertionError(f"no fork of {argv!r}: {log.read_text()}")


def gone(pid: int, timeout: float = 10) -> bool:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        return False
    return True


def test_the_socket_is_its_owners_only(server) -> None:
    path, _ = server
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_component_writes_to_the_clients_output_in_its_group_and_ends_with_its_code(server):
    path, _ = server
    run = client(path, "exit", "3")
    out, err = run.communicate(timeout=30)
    assert run.returncode == 3, err
    # The child's own line, through the client's stdout, in the client's process group.
    assert f"child argv=['exit', '3'] pgid={run.pid}" in out


def test_a_signal_to_the_group_stops_the_component_and_the_client_reports_it(server):
    path, log = server
    run = client(path, "sleep")
    pid = forked_pid(log, "sleep")
    os.killpg(run.pid, signal.SIGTERM)  # as supervisord stops a program (stopasgroup)
    run.wait(timeout=30)
    assert run.returncode == 128 + signal.SIGTERM  # the client ignored it; the child ended by it
    assert gone(pid)


def test_a_client_that_dies_alone_takes_its_component(server):
    path, log = server
    run = client(path, "sleep")
    pid = forked_pid(log, "sleep")
    os.kill(run.pid, signal.SIGKILL)  # the client only, not its group
    run.wait(timeout=10)
    assert gone(pid), "the component outlived its client"


def test_a_bad_request_is_refused_and_the_server_goes_on(server):
    path, log = server
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(path))
        sock.sendall(b"not json")
        assert sock.recv(100) == b""  # closed without an answer
    assert "forkserver: bad request" in log.read_text()
    run = client(path, "exit", "0")
    assert run.wait(timeout=30) == 0


def test_the_client_waits_for_a_late_server_and_says_where_to_look_when_there_is_none(
        tmp_path: Path):
    run = client(tmp_path / "none.sock", "exit", "0", wait="0.5")
    _, err = run.communicate(timeout=30)
    assert run.returncode == 1
    assert "did not listen" in err and "airflow-forkserver" in err


def test_the_forked_scheduler_keeps_what_it_inherited_frozen_after_spawning_workers():
    """The LocalExecutor's unfreeze would let the next full collection write to every inherited
    object, copying the pages the scheduler shares with the fork server."""
    import gc
    import importlib.util

    from airflow.executors.local_executor import LocalExecutor

    spec = importlib.util.spec_from_file_location("forkserver_under_test", FORKSERVER)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Executor:
        spawned = 0

        def _spawn_worker(self) -> None:
            Executor.spawned += 1

    original = LocalExecutor._spawn_workers_with_gc_freeze
    gc.unfreeze()
    try:
        original(Executor(), 1)
        assert (Executor.spawned, gc.get_freeze_count()) == (1, 0)  # Airflow's own: unfrozen
        module.keep_frozen_after_spawning_workers()
        LocalExecutor._spawn_workers_with_gc_freeze(Executor(), 2)
        assert Executor.spawned == 3
        assert gc.get_freeze_count() > 0
    finally:
        LocalExecutor._spawn_workers_with_gc_freeze = original
        gc.unfreeze()
