"""Where the native runner keeps its state: one folder that survives `make down`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def postgres_data(self) -> Path:
        return self.root / "postgres" / "data"

    @property
    def postgres_socket_dir(self) -> Path:
        return self.root / "postgres" / "run"

    @property
    def s3_data(self) -> Path:
        return self.root / "s3"

    @property
    def local_artifacts(self) -> Path:
        return self.root / "mlflow" / "artifacts"

    @property
    def mlflow_auth_store(self) -> Path:
        """MLflow's basic-auth users (basic_auth.db) and settings (MLFLOW_AUTH=basic)."""
        return self.root / "mlflow"

    @property
    def redis_data(self) -> Path:
        return self.root / "redis"

    @property
    def redis_conf(self) -> Path:
        return self.run / "redis.conf"

    @property
    def sqlite_dir(self) -> Path:
        return self.root / "sqlite"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def ids_dir(self) -> Path:
        return self.root / "ids"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def supervisor_conf(self) -> Path:
        return self.run / "supervisord.conf"

    @property
    def supervisor_socket(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def supervisor_pidfile(self) -> Path:
        return self.run / "supervisord.pid"

    @property
    def backends_file(self) -> Path:
        return self.run / "backends.json"

    def holds_data(self) -> bool:
        """Whether a native stack has run here: its databases, objects, logs or connector data."""
        return any(path.exists() for path in (self.postgres_data, self.sqlite_dir, self.s3_data,
                                              self.local_artifacts, self.airflow_home,
                                              self.ids_dir))

    @property
    def compose_marker(self) -> Path:
        """Written by the Compose runner: its volumes hold this platform's data (seen without Docker)."""
        return self.root / "compose-project"

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"
