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


def _postgres_bin_dir() -> str | None:
    """The folder of the system's PostgreSQL server binaries, newest version first."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                            key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                            else 0, reverse=True):
        if os.access(Path(candidate) / "postgres", os.X_OK):
            return candidate
    found = shutil.which("postgres")
    if found and shutil.which("initdb"):
        return str(Path(os.path.realpath(found)).parent)
    return None


def install_postgres() -> bool:
    """apt-get install PostgreSQL when running as root on Debian/Ubuntu; True when apt succeeded."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    # Debian would otherwise create and start its own cluster on 5432.
    Path("/etc/postgresql-common").mkdir(parents=True, exist_ok=True)
    Path("/etc/postgresql-common/createcluster.conf").write_text("create_main_cluster = false\n")
    print("PostgreSQL is not installed.", flush=True)
    return apt_install(["postgresql"])


def redis_server() -> str | None:
    """Debian's redis-server, installed with apt when missing (root only); None without it."""
    found = shutil.which("redis-server")
    if found is None and apt_install(["redis-server"]):
        found = shutil.which("redis-server")
    return found


def _postgres_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
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
