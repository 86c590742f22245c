"""Which secrets of `.env` each service may see: the rule both runners and the live stack keep.

Airflow's components pass their environment on to the tasks they run, so whatever an Airflow
component sees, the user's task code sees too: never the admin's password, never the object
store's root keys (tasks log artifacts through MLflow's proxy).
"""

from __future__ import annotations

from collections.abc import Iterable

from stack.settings import SECRET_GENERATORS, Settings

# The secrets `make up` generates: random values, so found by value wherever they leak.
GENERATED = frozenset(SECRET_GENERATORS)

# PROMOTION_LOCK_DB_PASSWORD on purpose: tasks take promotion's advisory lock with it, and its role
# can connect to its own database only (postgres/init-databases.sh).
AIRFLOW = frozenset({"AIRFLOW_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET",
                     "AIRFLOW_API_SECRET_KEY", "PROMOTION_LOCK_DB_PASSWORD"})
SEES: dict[str, frozenset[str]] = {
    "postgres": frozenset(),  # initdb read the superuser's password from a file, once
    "postgres-init": frozenset({"POSTGRES_SUPERUSER_PASSWORD", "AIRFLOW_DB_PASSWORD",
                                "MLFLOW_DB_PASSWORD", "PROMOTION_LOCK_DB_PASSWORD"}),
    "s3": frozenset({"S3_SECRET_KEY"}),
    "s3-init": frozenset({"S3_SECRET_KEY"}),
    "mlflow": frozenset({"MLFLOW_DB_PASSWORD", "S3_SECRET_KEY"}),
    "airflow-init": AIRFLOW | {"AIRFLOW_ADMIN_PASSWORD"},
    "airflow-apiserver": AIRFLOW,
    "airflow-scheduler": AIRFLOW,
    "airflow-dag-processor": AIRFLOW,
    "airflow-triggerer": AIRFLOW,
    # The login the cloud forwards with, which the edge's IDS endpoint takes (IDS_PEER_EDGE_*).
    "ids-edge": frozenset({"IDS_PEER_EDGE_PASSWORD"}),
    "ids-cloud": frozenset({"IDS_PEER_EDGE_PASSWORD"}),
    "model-server": frozenset(),
}
# Compose's postgres image sets the superuser's password at its first start from its environment.
COMPOSE_ALSO = {"postgres": frozenset({"POSTGRES_SUPERUSER_PASSWORD"})}
# What no Airflow component, hence no task, may hold.
NEVER_FOR_TASKS = frozenset({"AIRFLOW_ADMIN_PASSWORD", "S3_SECRET_KEY"})


def seen(texts: Iterable[str], settings: Settings) -> set[str]:
    """The generated secrets of `settings` whose value appears in any of `texts`."""
    texts = list(texts)
    return {name for name in GENERATED if any(settings.get(name) in text for text in texts)}
