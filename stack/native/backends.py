"""Choose the native stack's database and object store from what this machine has, and say so."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from stack.native.debian_redis import install_redis_server
from stack.native.layout import Layout
from stack.system_packages import apt_install


@dataclass(frozen=True)
class Backends:
    database: str  # "postgres" | "sqlite"
    s3: str  # "minio" | "rclone" | "moto" | "local"
    postgres_bin: str = ""
    postgres_user: str | None = None  # None: run PostgreSQL as the current (non-root) user
    s3_bin: str = ""
    redis_bin: str = ""  # the Celery broker's server, found or installed only for the CeleryExecutor

    @property
    def names(self) -> set[str]:
        """The optional backends of `stack.services` that this choice provides."""
        chosen = set()
        if self.database == "postgres":
            chosen.add("postgres")
        if self.s3 != "local":
            chosen.add("s3")
        return chosen

    def describe(self) -> list[str]:
        """What the user should know about this choice."""
        notes = []
        if self.database == "sqlite":
            notes.append("PostgreSQL is not installed and could not be installed: Airflow and MLflow "
                         "use SQLite (the embedded default). Install PostgreSQL (apt-get install "
                         "postgresql) for the real thing.")
        if self.s3 == "rclone":
            notes.append("S3: no MinIO binary on PATH, so `rclone serve s3` stores objects as files "
                         "under the state folder.")
        elif self.s3 == "moto":
            notes.append("WARNING: S3 is a moto server, which keeps artifacts IN MEMORY ONLY: they "
                         "are lost at `make down`. Put a MinIO binary on PATH to keep them.")
        elif self.s3 == "local":
            notes.append("No S3 server available: MLflow stores artifacts in a local folder.")
        return notes


# Debian and Ubuntu keep each major version's server apart, off PATH.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def _pg_config_bindir() -> str | None:
    """`pg_config --bindir`: where this machine's PostgreSQL installed its programs."""
    pg_config = shutil.which("pg_config")
    if not pg_config:
        return None
    try:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def _postgres_bin_dir() -> str | None:
    """The folder of PostgreSQL's server programs (`postgres` and `initdb` side by side).

    Debian's versioned folders first (newest first), then `pg_config --bindir` (Fedora, Arch,
    Homebrew, a source build), then the folder of a `postgres` on PATH.
    """
    debian = sorted(glob.glob(DEBIAN_BIN_GLOB),
                    key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                    else 0, reverse=True)
    on_path = shutil.which("postgres")
    candidates = [*debian, _pg_config_bindir(),
                  str(Path(os.path.realpath(on_path)).parent) if on_path else None]
    for candidate in filter(None, candidates):
        if all(os.access(Path(candidate) / name, os.X_OK) for name in ("postgres", "initdb")):
            return candidate
    return None


CREATECLUSTER_CONF = Path("/etc/postgresql-common/createcluster.conf")
NO_MAIN_CLUSTER = "create_main_cluster = false\n"


def install_postgres() -> bool:
    """apt-get install PostgreSQL when running as root on Debian/Ubuntu; True when apt succeeded.

    Says what it changes in /etc before it does.
    """
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print("PostgreSQL is not installed: installing Debian's package `postgresql` with apt-get.",
          flush=True)
    # Debian would otherwise create and start its own cluster on 5432.
    if not CREATECLUSTER_CONF.exists():
        print(f"  writing {CREATECLUSTER_CONF} ({NO_MAIN_CLUSTER.strip()}) first, so that the "
              f"package creates no cluster of its own", flush=True)
        CREATECLUSTER_CONF.parent.mkdir(parents=True, exist_ok=True)
        CREATECLUSTER_CONF.write_text(NO_MAIN_CLUSTER)
    elif NO_MAIN_CLUSTER.strip() not in CREATECLUSTER_CONF.read_text():
        print(f"  note: {CREATECLUSTER_CONF} is yours and left as it is: the package may create "
              f"and start its own cluster on port 5432", flush=True)
    return apt_install(["postgresql"])


def redis_server() -> str | None:
    """Debian's redis-server, installed with apt when missing (root only); None without it.

    The server the package starts of its own is stopped (stack.native.debian_redis).
    """
    found = shutil.which("redis-server")
    if found is None and install_redis_server():
        found = shutil.which("redis-server")
    return found


def _postgres_user() -> str | None:
    """`postgres` when running as root (PostgreSQL refuses root), else None: run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        print("PostgreSQL refuses to run as root: adding the system user `postgres` (useradd "
              "--system --no-create-home postgres).", flush=True)
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return "postgres"


def choose(layout: Layout, venv_bin: Path) -> Backends:
    """Pick backends; keep the database the state folder already holds, so data never splits."""
    recorded = load(layout)
    bin_dir = _postgres_bin_dir()
    if bin_dir is None and not (recorded and recorded.database == "sqlite"):
        bin_dir = _postgres_bin_dir() if install_postgres() else None
    database = "postgres" if bin_dir else "sqlite"
    if recorded and recorded.database != database:
        raise RuntimeError(
            f"the state folder {layout.root} holds a {recorded.database} database but this machine "
            f"now offers {database}; install what it had or move the folder away (make clean)."
        )
    minio = shutil.which("minio")
    rclone = shutil.which("rclone") or (str(venv_bin / "rclone")
                                        if (venv_bin / "rclone").exists() else None)
    if minio:
        s3, s3_bin = "minio", minio
    elif rclone:
        s3, s3_bin = "rclone", rclone
    elif (venv_bin / "moto_server").exists():
        s3, s3_bin = "moto", str(venv_bin / "moto_server")
    else:
        s3, s3_bin = "local", ""
    return Backends(database, s3, bin_dir or "", _postgres_user() if bin_dir else None, s3_bin)


def save(layout: Layout, backends: Backends) -> None:
    layout.backends_file.parent.mkdir(parents=True, exist_ok=True)
    layout.backends_file.write_text(json.dumps(asdict(backends), indent=2))


def load(layout: Layout) -> Backends | None:
    try:
        return Backends(**json.loads(layout.backends_file.read_text()))
    except (OSError, ValueError, TypeError):
        return None
