"""Stacks of their own for tests and benchmarks: a private `.env`, state folder and free ports.

A stack made here never touches the user's (`make up`, the repository's `.env`, default ports):
every command names the private `.env` explicitly.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from stack.settings import REPO_ROOT, example_variables, render_env

_HANDED_OUT: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A free port for a private stack's service, below the kernel's ephemeral range.

    A service binds its port seconds after the `.env` names it. A port from the ephemeral range
    (what bind(0) and every outgoing connection get) can be taken by a test's server or a client
    in the meantime; below that range only a deliberate bind can take it.
    """
    low, _ = _ephemeral_range()
    first = max(1024, low - 12000)
    for _ in range(1000):
        port = random.randrange(first, low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port between {first} and {low}")


def make_private_folder(prefix: str) -> Path:
    # Under /tmp and world-traversable: the `postgres` user must reach its data folder.
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def write_private_env(folder: Path, **overrides: str) -> Path:
    """A fresh `.env` in `folder`: new secrets, a free port each, state inside `folder`."""
    values = {"STACK": "native", "STACK_STATE_DIR": str(folder / "state"), **overrides}
    lines = []
    for line in render_env().splitlines():
        name, sep, _ = line.partition("=")
        if sep and not line.startswith("#"):
            if name in values:
                line = f"{name}={values[name]}"
            elif name.endswith("_PORT"):
                line = f"{name}={free_port()}"
        lines.append(line)
    env_file = folder / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)
    return env_file


def _command(env_file: Path, args: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    names = set(example_variables())  # no `.env` variable of this shell leaks in
    env = {k: v for k, v in os.environ.items() if k not in names}
    return [sys.executable, "-m", "stack", "--env-file", str(env_file), *args], env


def stack_command(env_file: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run `python -m stack --env-file ENV ARGS` to its end."""
    argv, env = _command(env_file, args)
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env)


def stack_process(env_file: Path, *args: str) -> subprocess.Popen:
    """Start `python -m stack --env-file ENV ARGS` and return at once (output in pipes)."""
    argv, env = _command(env_file, args)
    return subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def stack_session(env_file: Path, log: Path, *args: str) -> subprocess.Popen:
    """Start `python -m stack --env-file ENV ARGS` as a process tree of its own (a new session,
    so that it can be stopped as a whole), its output appended to `log`."""
    argv, env = _command(env_file, args)
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
