"""Run one Airflow component forked from the Airflow fork server: `python -S forked.py scheduler`.

supervisord starts and stops this small process; the component itself is a fork of
airflow/forkserver.py, which has imported Airflow already. The component joins this process's
group, so supervisord's stop signal (sent to the group) reaches it directly, and it writes to this
process's stdout and stderr, the service's log. This process ends with the component's exit code.
Standard library only, and no site-packages (`-S`): it costs a few MiB.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time

WAIT_SECONDS = float(os.environ.get("AIRFLOW_FORKSERVER_WAIT", "300"))


def connect(path: str, wait: float) -> socket.socket:
    """Connect to the fork server, waiting up to `wait` seconds for it to listen."""
    deadline, said = time.monotonic() + wait, False
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if time.monotonic() > deadline:
                sys.exit(f"forked: the Airflow fork server did not listen at {path} within "
                         f"{wait:.0f}s. It is the native runner's `airflow-forkserver` program: "
                         f"see its log, airflow-forkserver.log in the stack's logs folder.")
            if not said:
                print(f"forked: waiting for the Airflow fork server at {path}", file=sys.stderr,
                      flush=True)
                said = True
            time.sleep(0.2)


def read_message(sock: socket.socket, pending: bytearray) -> dict | None:
    """The server's next JSON line; None when it closed the connection first."""
    while b"\n" not in pending:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return json.loads(line)


def wait_without_server(pid: int) -> int:
    """The server is gone: watch the component by its pidfd until it ends (its code is lost)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return 1
    select.select([fd], [], [])
    os.close(fd)
    print(f"forked: pid {pid} ended; its exit code went with the fork server", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    if not argv:
        sys.exit("usage: forked.py AIRFLOW-COMMAND [ARGS...]")
    # supervisord signals the whole group: the component gets the signal itself and this process
    # waits for it to end, so that supervisord sees the component's own way out.
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_IGN)
    sock = connect(os.environ["AIRFLOW_FORKSERVER_SOCKET"], WAIT_SECONDS)
    request = json.dumps({"argv": argv, "pgid": os.getpgrp()}).encode()
    socket.send_fds(sock, [request], [0, 1, 2])
    pending = bytearray()
    started = read_message(sock, pending)
    if started is None:
        sys.exit("forked: the Airflow fork server closed the connection without starting "
                 f"`airflow {' '.join(argv)}`: see airflow-forkserver.log")
    pid = started["pid"]
    ended = read_message(sock, pending)
    if ended is None:
        return wait_without_server(pid)
    code = ended["exit"]
    return 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell reports


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
