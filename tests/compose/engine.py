"""A Docker engine for the Compose suite: the user's own when one answers, else a private one.

Where no engine runs (our machines), a private `dockerd` is started from Debian trixie's packages
(`docker.io`, `docker-cli`, `docker-compose`, `docker-buildx`): bookworm's engine is 20.10 and its
Compose is v1, both too old for `start_interval` and `depends_on` conditions. The packages are
fetched with `apt-get download` against a sources list of our own and unpacked with `dpkg -x`;
nothing is installed into the system but bookworm's `containerd`, `runc` and `iptables`, which
the engine needs. Its data root (images and build cache) lives in the cache folder, so a later
run on the same machine reuses what an earlier one built.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from stack.system_packages import apt_install

TRIXIE_PACKAGES = ("docker.io", "docker-cli", "docker-compose", "docker-buildx")
HOST_PACKAGES = {"containerd": "containerd", "runc": "runc", "iptables": "iptables"}
TRIXIE_SOURCES = ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                  "http://deb.debian.org/debian trixie main\n")


def cache_folder() -> Path:
    """Where the private engine keeps its binaries, images and build cache between runs."""
    configured = os.environ.get("COMPOSE_TEST_CACHE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "local-mlops" / "compose-test"


@dataclass
class Engine:
    """How to reach an engine: the environment its clients need, and the daemon we started."""

    env: dict[str, str] = field(default_factory=dict)
    private: bool = False
    pid: int | None = None

    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def docker(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], env=self.environ(), check=check, **kwargs)

    def answers(self, timeout: float = 5) -> bool:
        try:
            return self.docker("info", "--format", "{{.ServerVersion}}", check=False,
                               capture_output=True, timeout=timeout).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def stop(self) -> None:
        """Stop the private daemon (ours only, by pid); a user's engine is left alone."""
        if not self.private or self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not _alive(self.pid):
                return
            time.sleep(0.2)
        os.kill(self.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def _unpack_trixie_packages(cache: Path) -> Path:
    """Debian trixie's engine, CLI, Compose v2 and buildx, unpacked under `cache`/root."""
    root = cache / "root"
    if (root / "usr" / "sbin" / "dockerd").exists():
        return root
    print("fetching Docker Engine 26 and Compose v2 from Debian trixie's packages ...", flush=True)
    apt_dir = cache / "apt"
    (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt_dir / "sources.list").write_text(TRIXIE_SOURCES)
    options = ["-o", f"Dir::Etc::sourcelist={apt_dir / 'sources.list'}",
               "-o", "Dir::Etc::sourceparts=-",
               "-o", f"Dir::State::Lists={apt_dir / 'lists'}",
               "-o", "APT::Get::List-Cleanup=0",
               "-o", "APT::Sandbox::User=root"]
    _run(["apt-get", *options, "update"])
    debs = cache / "debs"
    debs.mkdir(exist_ok=True)
    _run(["apt-get", *options, "download", *TRIXIE_PACKAGES], cwd=debs)
    staging = cache / "root.partial"
    shutil.rmtree(staging, ignore_errors=True)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(staging)])
    staging.rename(root)
    return root


def _client_env(root: Path, cache: Path, socket_path: Path) -> dict[str, str]:
    # Compose and buildx are CLI plugins: a config folder of our own holds them, ~/.docker is untouched.
    config = cache / "docker-config"
    plugins = config / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    for plugin in ("docker-compose", "docker-buildx"):
        target = plugins / plugin
        if not target.exists():
            target.symlink_to(root / "usr" / "libexec" / "docker" / "cli-plugins" / plugin)
    return {"DOCKER_HOST": f"unix://{socket_path}", "DOCKER_CONFIG": str(config),
            "PATH": f"{root / 'usr' / 'bin'}:{root / 'usr' / 'sbin'}:{os.environ['PATH']}"}


def start_private_engine(cache: Path, timeout: float = 60) -> Engine:
    """Start dockerd from trixie's packages with its state under `cache`; wait until it answers."""
    missing = [package for command, package in HOST_PACKAGES.items() if not shutil.which(command)]
    if missing and not apt_install(missing):
        raise RuntimeError(f"the private Docker engine needs {', '.join(missing)}: install them "
                           f"(apt-get install {' '.join(missing)}) and run again")
    cache.mkdir(parents=True, exist_ok=True)
    root = _unpack_trixie_packages(cache)
    # Short paths: containerd's sockets live under the exec root (108-byte socket path limit).
    run_dir = Path("/run/local-mlops-docker") if os.geteuid() == 0 else cache / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    socket_path = run_dir / "docker.sock"
    env = _client_env(root, cache, socket_path)
    log = (cache / "dockerd.log").open("ab")
    daemon = subprocess.Popen(
        [str(root / "usr" / "sbin" / "dockerd"), "--data-root", str(cache / "data"),
         "--exec-root", str(run_dir / "exec"), "--pidfile", str(run_dir / "docker.pid"),
         "-H", f"unix://{socket_path}"],
        env={**os.environ, **env}, stdout=log, stderr=log, start_new_session=True)
    engine = Engine(env=env, private=True, pid=daemon.pid)
    deadline = time.monotonic() + timeout
    while not engine.answers():
        if daemon.poll() is not None or time.monotonic() > deadline:
            engine.stop()
            tail = (cache / "dockerd.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the private Docker engine did not start; its log ends:\n{tail}")
        time.sleep(0.5)
    return engine


def ensure_engine() -> Engine:
    """The user's engine when one answers; otherwise a private one from Debian's packages."""
    users = Engine()
    if users.answers() and users.docker("compose", "version", check=False,
                                        capture_output=True).returncode == 0:
        return users
    return start_private_engine(cache_folder())
