"""Debian's `redis-server` package for its program only: the server the package itself starts is stopped.

The package's maintainer scripts start a Redis of its own (`/etc/redis/redis.conf`, 127.0.0.1:6379,
no password) as soon as it is installed, and enable it at every boot. The native runner runs its own
Redis (its config, REDIS_PORT, REDIS_PASSWORD), so the package's would only hold 6379, REDIS_PORT's
default. When `make up` installs the package, it therefore disables that service and stops the
server the install started: the `redis-server` process that the package's pidfile names, if it was
not running before the install and started after it began. Any other Redis is left alone; one on
REDIS_PORT is named by the port check (`package_server_hint`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from stack.system_packages import apt_install

PACKAGE = "redis-server"  # the package, its init script and its systemd unit
PACKAGE_PIDFILE = Path("/run/redis/redis-server.pid")  # `pidfile` of the package's redis.conf
SYSTEMD_RUNNING = Path("/run/systemd/system")


def redis_servers() -> dict[int, float]:
    """The running `redis-server` processes: pid -> start time (seconds since the epoch)."""
    found = {}
    for process in psutil.process_iter(["name", "create_time"]):
        if process.info["name"] == "redis-server":
            found[process.pid] = process.info["create_time"]
    return found


def _package_pid() -> int | None:
    """The pid the package's service wrote (its redis.conf's `pidfile`), if any."""
    try:
        return int(PACKAGE_PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None


def started_by_install(before: set[int], began: float) -> list[int]:
    """The package's server if the install started it: named by the package's pidfile, not running
    before the install, started after it began (a Redis of anyone else's never qualifies)."""
    pid, servers = _package_pid(), redis_servers()
    if pid in servers and pid not in before and servers[pid] >= began - 1:  # ticks round down
        return [pid]
    return []


def _service_commands() -> list[list[str]]:
    """Disable the package's service at boot and stop it now, through the machine's init system."""
    if SYSTEMD_RUNNING.exists() and shutil.which("systemctl"):
        return [["systemctl", "disable", "--now", PACKAGE]]
    return [["update-rc.d", PACKAGE, "disable"], ["invoke-rc.d", PACKAGE, "stop"]]


def _terminate(pids: list[int], timeout: float = 15) -> list[int]:
    """SIGTERM each of `pids` (Redis saves and exits); the pids still running after `timeout`."""
    processes = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            process.terminate()
            processes.append(process)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [process.pid for process in alive]


def stop_package_server(started: list[int]) -> None:
    """Disable the package's service, and stop the servers in `started` (those the install started)."""
    commands = _service_commands()
    print(f"  Debian's {PACKAGE} package starts a Redis of its own on 127.0.0.1:6379, now and at "
          f"every boot; the stack runs its own. Disabling the package's service: "
          f"{'; '.join(' '.join(c) for c in commands)} (undo with `systemctl enable --now "
          f"{PACKAGE}` or `update-rc.d {PACKAGE} enable`).", flush=True)
    for command in commands:
        if shutil.which(command[0]):
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The init system may have been told not to act (policy-rc.d in containers): by pid then.
    left = [pid for pid in started if psutil.pid_exists(pid)]
    if left:
        print(f"  stopping the Redis the install started (pid {', '.join(map(str, left))}: named "
              f"by {PACKAGE_PIDFILE}, started during the install)", flush=True)
        still = _terminate(left)
        if still:
            print(f"  WARNING: pid {', '.join(map(str, still))} did not stop; it may hold port "
                  f"6379 (`make up` will say so if that is REDIS_PORT)", flush=True)


def install_redis_server(install: Callable[[list[str]], bool] = apt_install) -> bool:
    """apt-get install redis-server (root only), leaving no server of the package's running."""
    before, began = set(redis_servers()), time.time()
    if not install([PACKAGE]):
        return False
    stop_package_server(started_by_install(before, began))
    return True


def package_server_hint(pid: int) -> str:
    """What to do about the Redis `pid` on REDIS_PORT: the package's own service, or another."""
    if pid == _package_pid():
        return (f"that is the Redis of Debian's {PACKAGE} service, not the stack's: stop it as "
                f"root (`systemctl disable --now {PACKAGE}`, or `service {PACKAGE} stop`), or set "
                f"REDIS_PORT to another port")
    return ("that Redis was not started by this stack (another stack's, or one of yours): "
            "stop it, or set REDIS_PORT to another port")


def main() -> int:
    """`make redis`: the tests' redis-server, installed as `make up` installs it when missing."""
    if shutil.which("redis-server") or install_redis_server():
        return 0
    print("note: could not install redis-server (as root: apt-get install redis-server); the "
          "tests that need it will be reported as skipped.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
