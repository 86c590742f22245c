"""Drive supervisord: write its config, start it detached, control programs over its socket."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport

from stack.native.layout import Layout

RUNNING_STATES = {"STARTING", "RUNNING"}
FAILED_STATES = {"BACKOFF", "FATAL", "EXITED", "UNKNOWN"}


def render_config(layout: Layout, env_file: Path, workdir: Path, programs: dict[str, str]) -> str:
    """supervisord.conf: one program per service, none started until the runner asks.

    Each program runs `python -m stack.native.launch SERVICE`, which reads `.env` itself, so no
    secret is written into this file. `programs` maps a service to its stop signal.
    """
    sections = [f"""\
[unix_http_server]
file={layout.supervisor_socket}
chmod=0700

[supervisord]
logfile={layout.logs / 'supervisord.log'}
logfile_maxbytes=10MB
logfile_backups=2
pidfile={layout.supervisor_pidfile}
childlogdir={layout.logs}
directory={layout.root}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{layout.supervisor_socket}
"""]
    for priority, (name, stopsignal) in enumerate(programs.items(), start=1):
        sections.append(f"""\
[program:{name}]
command={sys.executable} -m stack.native.launch --env-file {env_file} {name}
directory={workdir}
autostart=false
autorestart=unexpected
startsecs=1
startretries=2
priority={priority * 10}
stopsignal={stopsignal}
stopwaitsecs=30
; stop and kill the whole process group: Airflow's task subprocesses, uvicorn workers, ...
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={layout.log(name)}
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=2
""")
    return "\n".join(sections)


class Supervisor:
    """A handle on our supervisord: its pid file and its socket."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    @property
    def pid(self) -> int | None:
        try:
            pid = int(self.layout.supervisor_pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            # A stale pid file: that pid now belongs to another user's process, never ours.
            return None
        return pid

    def running(self) -> bool:
        if self.pid is None:
            return False
        try:
            self.rpc.supervisor.getState()
            return True
        except (OSError, xmlrpc.client.Fault):
            return False

    @property
    def rpc(self) -> xmlrpc.client.ServerProxy:
        transport = SupervisorTransport(None, None, f"unix://{self.layout.supervisor_socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def start_daemon(self, env: dict[str, str]) -> None:
        """Start supervisord detached (it daemonizes) and wait for its socket."""
        subprocess.run([str(Path(sys.executable).parent / "supervisord"), "-c",
                        str(self.layout.supervisor_conf)], check=True, env=env)
        deadline = time.monotonic() + 15
        while not self.running():
            if time.monotonic() > deadline:
                raise RuntimeError(f"supervisord did not start; see {self.layout.logs}/supervisord.log")
            time.sleep(0.1)

    def start(self, name: str) -> None:
        self.rpc.supervisor.startProcess(name, False)

    def info(self, name: str) -> dict:
        return self.rpc.supervisor.getProcessInfo(name)

    def all_info(self) -> list[dict]:
        return self.rpc.supervisor.getAllProcessInfo()

    def stop_together(self, names: list[str], timeout: float = 45) -> None:
        """Send every program in `names` its stop signal at once; wait until all have stopped.

        supervisord's own shutdown stops programs one after the other; stopping those that
        nothing needs any more together makes `down` take as long as the slowest, not the sum.
        """
        for name in names:
            with contextlib.suppress(xmlrpc.client.Fault):  # not running
                self.rpc.supervisor.stopProcess(name, False)
        deadline = time.monotonic() + timeout
        while any(self.info(name)["statename"] in ("RUNNING", "STARTING", "STOPPING", "BACKOFF")
                  for name in names):
            if time.monotonic() > deadline:
                return  # supervisord's shutdown, next, kills what is left
            time.sleep(0.2)

    def shutdown(self, timeout: float = 90) -> None:
        """Stop every program (process groups included) and supervisord itself; wait for it."""
        pid = self.pid
        if pid is None:
            return
        try:
            self.rpc.supervisor.shutdown()
        except (OSError, xmlrpc.client.Fault):
            os.kill(pid, 15)
        deadline = time.monotonic() + timeout
        while self.pid is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"supervisord (pid {pid}) did not stop within {timeout:.0f}s")
            time.sleep(0.2)
