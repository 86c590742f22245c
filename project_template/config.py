"""This project's settings: its description (project.toml) and the stack's addresses (environment).

What the project *is* (DAG id, experiment and registered model, task, data source, schema, metric,
candidates) comes from `project.toml` only, so nothing can drift out of step with it. Where the
platform's services are comes from the environment, with a default for each.
"""

from __future__ import annotations

import os
from pathlib import Path

from .mlops_platform.description import load_description


def _env(name: str, default: str) -> str:
    # An empty variable counts as unset, as it does in `.env` files.
    return os.environ.get(name) or default


PROJECT_DIR = Path(__file__).resolve().parent
DESCRIPTION = load_description(PROJECT_DIR / "project.toml")

# --- Identity and task ------------------------------------------------------------------------------
DAG_ID = DESCRIPTION.dag_id
EXPERIMENT_NAME = DESCRIPTION.name
REGISTERED_MODEL_NAME = DESCRIPTION.name
TASK = DESCRIPTION.task  # regression | classification
# The validation metric that picks the best candidate; promotion compares the same measure on the
# held-out test split (`r2_validation` -> `r2_test`).
METRIC_BM = f"{DESCRIPTION.metric}_validation"

# --- Data -------------------------------------------------------------------------------------------
DATA = DESCRIPTION.data
SCHEMA = DESCRIPTION.schema
DATA_SOURCE = DATA.source  # also a DAG param
# The project's own copy of its data (the `local` source's default).
LOCAL_DATA_FILE = PROJECT_DIR / DATA.local_path
TARGET_COLUMN = SCHEMA.target.name
FEATURE_COLUMNS = tuple(SCHEMA.feature_names)
S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL", "")

# Seeded train/validation/test split: the test part is held out for the champion comparison.
RANDOM_SEED = DESCRIPTION.split.seed
VALIDATION_FRACTION = DESCRIPTION.split.validation_fraction
TEST_FRACTION = DESCRIPTION.split.test_fraction

# name -> {"estimator": dotted class path, "params": {...}}; one mapped model_training task each.
CANDIDATE_MODELS: dict[str, dict] = DESCRIPTION.candidates

# --- MLflow -----------------------------------------------------------------------------------------
MLFLOW_TRACKING_URI = _env("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_env('MLFLOW_PORT', '5000')}")
# The registry alias the model server serves, and the one a model that lost the comparison gets.
CHAMPION_ALIAS = _env("CHAMPION_ALIAS", "champion")
CHALLENGER_ALIAS = _env("CHALLENGER_ALIAS", "challenger")

# --- Promotion lock ----------------------------------------------------------------------------------
# The login promotion takes its lock with (mlops_platform/promotion_lock.py): a PostgreSQL role that
# can only connect to a database of its own. Without a password, a lock of this machine only.
PROMOTION_LOCK_DB = {
    "host": _env("PROMOTION_LOCK_DB_HOST", "127.0.0.1"),
    "port": int(_env("PROMOTION_LOCK_DB_PORT", "5432")),
    "dbname": _env("PROMOTION_LOCK_DB_NAME", "promotion_locks"),
    "user": _env("PROMOTION_LOCK_DB_USER", "promotion_lock"),
    "password": _env("PROMOTION_LOCK_DB_PASSWORD", ""),
}
# How long a promotion waits for another promotion of the same model before its try fails.
PROMOTION_LOCK_TIMEOUT_SECONDS = float(_env("PROMOTION_LOCK_TIMEOUT_SECONDS", "600"))

# --- Retries -----------------------------------------------------------------------------------------
# Every task retries this often, the first time after this many seconds, then twice as long each
# time (at most 5 minutes).
TASK_RETRIES = int(_env("TASK_RETRIES", "2"))
TASK_RETRY_DELAY_SECONDS = float(_env("TASK_RETRY_DELAY_SECONDS", "20"))

# --- IDS TRUE Connector (cloud = consumer, edge = provider) -----------------------------------------
IDS_EDGE_HOST = _env("IDS_EDGE_HOST", "127.0.0.1")
IDS_EDGE_PORT = _env("IDS_EDGE_IDS_PORT", "8889")
IDS_CLOUD_HOST = _env("IDS_CLOUD_HOST", "127.0.0.1")
IDS_CLOUD_PORT = _env("IDS_CLOUD_DATA_APP_PORT", "8084")
# The IDS client reads its credentials (IDS_CONNECTOR_USER/PASSWORD, IDS_API_USER/PASSWORD) from
# the environment itself, so no secret passes through this module or XCom.

# --- Serving ----------------------------------------------------------------------------------------
MODEL_SERVER_URL = _env("MODEL_SERVER_URL", f"http://127.0.0.1:{_env('MODEL_SERVER_PORT', '5001')}")
# How long `deploy` waits for the model server to serve the champion.
DEPLOY_TIMEOUT_SECONDS = float(_env("DEPLOY_TIMEOUT_SECONDS", "300"))

# --- Monitoring and retraining ----------------------------------------------------------------------
# The monitoring DAG (DAG/dag_monitoring.py) compares recent served inputs with the champion's
# training data on this schedule; its settings are project.toml's [monitoring] table.
MONITORING = DESCRIPTION.monitoring
MONITORING_DAG_ID = f"{DAG_ID}_monitoring"
MONITORING_EXPERIMENT_NAME = f"{EXPERIMENT_NAME}-monitoring"
# The Airflow asset that the monitoring DAG (DAG/dag_monitoring.py) updates when the champion needs
# retraining (drift, or a performance drop on a newer labeled batch); the lifecycle DAG is scheduled
# on it. The event's `extra` says why: reason, drift_share, drifted_columns, monitoring_run_id.
RETRAINING_ASSET_NAME = f"{EXPERIMENT_NAME}-retraining"
RETRAINING_ASSET_URI = f"mlops://{EXPERIMENT_NAME}/retraining"
# Where the model server keeps what it served, through MLflow's artifact proxy (= the artifact
# bucket): <prefix>/<registered model>/date=YYYY-MM-DD/*.parquet.
INFERENCE_LOG_PREFIX = _env("INFERENCE_LOG_PREFIX", "inference")
