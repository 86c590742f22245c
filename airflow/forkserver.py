"""Import Airflow once, then fork its components from here: the native runner's Airflow parent.

The four Airflow components (api-server, scheduler, dag-processor, triggerer) each import the
same 2-3 CPU-seconds of Airflow before they do anything of their own, and each keeps its own copy
of those modules. The native runner starts this server first, while PostgreSQL starts; each
component is then a fork of it (`airflow/forked.py` asks for one): Airflow is imported once, and
its pages are shared, copy-on-write, by the four.

Protocol, over a Unix socket only its owner can open: the client sends one JSON message,
{"argv": [...], "pgid": N}, with its stdin, stdout and stderr attached (SCM_RIGHTS). The server
forks; the child joins the client's process group (so signals to that group, as supervisord
sends them, reach it), takes those three descriptors and runs `airflow <argv>`. The server answers
{"pid": N}, and {"exit": code} when the child ends. A client that goes away without its child
ending takes the child with it (SIGTERM).

Under the LocalExecutor the forked scheduler then imports the tasks' libraries
(airflow/preimport.py) before its executor forks the task processes: only the scheduler's tree
needs them, and there they cost no one else's start. A project's own code is never imported.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass

# What the components import before they serve: the CLI, each command's own job runner, and the
# API server's routes and models (its FastAPI app itself is built in the child: building it
# loads plugins in the API server's process context).
COMPONENT_MODULES = (
    "airflow.__main__", "airflow.cli.cli_parser", "airflow.utils.db", "alembic.command",
    "airflow.cli.commands.api_server_command", "airflow.cli.commands.scheduler_command",
    "airflow.cli.commands.dag_processor_command", "airflow.cli.commands.triggerer_command",
    "airflow.jobs.scheduler_job_runner", "airflow.jobs.triggerer_job_runner",
    "airflow.dag_processing.manager", "airflow.dag_processing.processor",
    "airflow.executors.local_executor", "airflow.utils.serve_logs",
    "airflow.api_fastapi.app", "airflow.api_fastapi.core_api.app",
    "airflow.api_fastapi.core_api.routes.public", "airflow.api_fastapi.core_api.routes.ui",
    "airflow.api_fastapi.execution_api.app", "airflow.api_fastapi.execution_api.routes",
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager",
    "uvicorn", "uvicorn.loops.uvloop", "uvicorn.protocols.http.httptools_impl",
)

MESSAGE_LIMIT = 65536
REQUEST_TIMEOUT = 5.0  # a client sends its request at once; a silent one is dropped


@dataclass
class Request:
    argv: list[str]
    pgid: int
    fds: list[int]


def read_request(conn: socket.socket) -> Request:
    """The client's JSON request and its three descriptors; ValueError when malformed."""
    conn.settimeout(REQUEST_TIMEOUT)
    data, fds, _flags, _addr = socket.recv_fds(conn, MESSAGE_LIMIT, 3)
    conn.settimeout(None)
    try:
        message = json.loads(data)
        argv, pgid = message["argv"], int(message["pgid"])
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise ValueError("argv must be a non-empty list of strings")
        if len(fds) != 3:
            raise ValueError(f"expected stdin, stdout and stderr, got {len(fds)} descriptors")
    except (ValueError, KeyError, TypeError) as error:
        for fd in fds:
            os.close(fd)
        raise ValueError(f"bad request: {error}") from error
    return Request(argv, pgid, fds)


def send(conn: socket.socket, **message: int) -> None:
    # A client that went away has its child stopped when its end is seen closed.
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


def reset_signals() -> None:
    """In the forked child, first: the server's handlers and wakeup descriptor are not its own."""
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def become_child(request: Request) -> None:
    """In the forked child: join the client's group, take its descriptors, set `airflow` argv."""
    try:
        os.setpgid(0, request.pgid)
    except OSError:  # a client outside supervisord's session: a group of its own
        os.setpgid(0, 0)
    for target, fd in enumerate(request.fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.argv = ["airflow", *request.argv]


class ForkServer:
    """Accepts requests on `listener`; forks and watches one child per request."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, socket.socket] = {}  # child pid -> its client's connection
        self.stopping = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def serve(self) -> Request | None:
        """Serve until stopped (None); in a forked child, return its request instead."""
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wakeup fd fires
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        while not self.stopping:
            for key, _ in self.selector.select():
                if key.data == "accept":
                    request = self._accept()
                    if request is not None:
                        return request
                elif key.data == "wake":
                    self._drain_wakeups()
                else:
                    self._client_readable(key.fileobj, key.data)
            self._reap()
        return None

    def _stop(self, *_: object) -> None:
        self.stopping = True

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _accept(self) -> Request | None:
        conn, _ = self.listener.accept()
        try:
            request = read_request(conn)
        except (ValueError, OSError) as error:
            print(f"forkserver: {error}", file=sys.stderr, flush=True)
            conn.close()
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        # Frozen objects are never visited by the collector: their pages stay shared.
        gc.collect()
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            reset_signals()
            self._close_all(conn)
            become_child(request)
            return request
        for fd in request.fds:
            os.close(fd)
        self.children[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, pid)
        send(conn, pid=pid)
        print(f"forkserver: `airflow {' '.join(request.argv)}` is pid {pid}", flush=True)
        return None

    def _close_all(self, conn: socket.socket) -> None:
        self.selector.close()
        for other in (self.listener, conn, *self.children.values()):
            other.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        self.children.clear()

    def _client_readable(self, conn: socket.socket, pid: int) -> None:
        try:
            data = conn.recv(1)
        except OSError:
            data = b""
        if data:
            return  # clients send nothing after their request
        self.selector.unregister(conn)
        if pid in self.children:  # the client went away with its child still running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            print(f"forkserver: pid {pid} ended with {code}", flush=True)
            send(conn, exit=code)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
            conn.close()


def listen(path: str) -> socket.socket:
    """A Unix socket at `path` only this user can connect to; a stale one is replaced."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        listener.bind(path)
    finally:
        os.umask(old)
    listener.listen(16)
    return listener


def keep_frozen_after_spawning_workers() -> None:
    """The LocalExecutor freezes the collector while it forks its workers, then unfreezes it.
    Unfrozen, everything the scheduler inherited from the fork server would be collectable again,
    and the next full collection would write to every object, copying the pages it shares with
    the server and its siblings (150 MiB measured). Here it stays frozen: cycles of garbage among
    objects older than the workers are then never collected. Nothing else changes (gc.unfreeze
    itself is left alone, for the tasks' code)."""
    from airflow.executors.local_executor import LocalExecutor

    spawn = getattr(LocalExecutor, "_spawn_workers_with_gc_freeze", None)
    if spawn is None:  # another Airflow: leave its executor as it is
        return

    def spawn_keeping_frozen(self: LocalExecutor, spawn_number: int) -> None:
        gc.freeze()
        for _ in range(spawn_number):
            self._spawn_worker()

    LocalExecutor._spawn_workers_with_gc_freeze = spawn_keeping_frozen


def run_component() -> None:
    """`airflow <sys.argv[1:]>` in a forked child; the scheduler first completes its tasks'
    libraries (airflow/preimport.py), whatever the server had not imported yet."""
    from airflow.__main__ import main as airflow_main
    from airflow.configuration import conf
    from preimport import preimport, runs_tasks

    if runs_tasks(sys.argv[1:], conf.get("core", "executor")):
        failed = preimport()
        if failed:
            print(f"preimport: not imported: {'; '.join(failed)}", file=sys.stderr)
        keep_frozen_after_spawning_workers()
    sys.path.remove(HERE)
    airflow_main()


def main() -> None:
    # Not passed on: the components and their tasks have no business with this socket.
    path = os.environ.pop("AIRFLOW_FORKSERVER_SOCKET")
    # Listen first: a component that asks while Airflow is being imported waits in the backlog.
    listener = listen(path)
    started = time.monotonic()
    from preimport import preimport

    failed = preimport(COMPONENT_MODULES)
    if failed:
        print(f"forkserver: not imported: {'; '.join(failed)}", file=sys.stderr)
    threads = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if threads:  # a fork copies only the thread that forks: what the others hold would be lost
        sys.exit(f"forkserver: importing Airflow started threads ({', '.join(threads)}), and "
                 "forking them is unsafe.")
    print(f"forkserver: Airflow imported in {time.monotonic() - started:.1f}s; serving on "
          f"{path}", flush=True)
    request = ForkServer(listener).serve()
    if request is None:
        os.unlink(path)
        return
    run_component()


if __name__ == "__main__":
    # This folder holds preimport.py and nothing for Airflow's processes: it leaves sys.path
    # before a component runs.
    HERE = sys.path[0]
    main()
