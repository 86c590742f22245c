"""Every setting of this project, read from the environment once, with a default for each."""

from __future__ import annotations

import os
from pathlib import Path


def _env(name: str, default: str) -> str:
    # An empty variable counts as unset, as it does in `.env` files.
    return os.environ.get(name) or default


PROJECT_DIR = Path(__file__).resolve().parent

# --- Identity ---------------------------------------------------------------------------------------
# `make new-project` rewrites these three lines (and DATA_SOURCE): each project has its own DAG,
# experiment and registered model; only the template follows the stack-wide variables.
DAG_ID = "project_template"
EXPERIMENT_NAME = _env("EXPERIMENT_NAME", "diabetes-progression")
REGISTERED_MODEL_NAME = _env("REGISTERED_MODEL_NAME", "diabetes-progression")

# --- MLflow -----------------------------------------------------------------------------------------
MLFLOW_TRACKING_URI = _env("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_env('MLFLOW_PORT', '5000')}")
# The registry alias the model server serves, and the one a model that lost the comparison gets.
CHAMPION_ALIAS = _env("CHAMPION_ALIAS", "champion")
CHALLENGER_ALIAS = _env("CHALLENGER_ALIAS", "challenger")

# --- Retries -----------------------------------------------------------------------------------------
# Every task retries this often, the first time after this many seconds, then twice as long each
# time (at most 5 minutes).
TASK_RETRIES = int(_env("TASK_RETRIES", "2"))
TASK_RETRY_DELAY_SECONDS = float(_env("TASK_RETRY_DELAY_SECONDS", "20"))

# --- Model selection --------------------------------------------------------------------------------
# The validation metric that picks the best candidate of a run. Promotion compares the same
# measure on the held-out test set (`r2_validation` -> `r2_test`).
METRIC_BM = _env("METRIC_BM", "r2_validation")
METRIC_BM_TYPE = _env("METRIC_BM_TYPE", "max")  # max | min

# --- Data -------------------------------------------------------------------------------------------
# Where `read_data` fetches the dataset: ids | local | s3 (also a DAG param). A project made by
# `make new-project` reads its local copy instead: the IDS edge offers only the template's data.
DATA_SOURCE = _env("DATA_SOURCE", "ids")
# ids: the title the IDS edge offers the dataset under.
IDS_RESOURCE_TITLE = _env("IDS_RESOURCE_TITLE", EXPERIMENT_NAME)
# local: a path on the workers; relative paths are relative to this project's folder.
LOCAL_DATA_PATH = _env("LOCAL_DATA_PATH", "Data/example_data/diabetes.csv")
# s3: an s3://bucket/key URI on the stack's object store (S3_ENDPOINT_URL, AWS_* credentials).
S3_DATA_URI = _env("S3_DATA_URI", "")
S3_ENDPOINT_URL = _env("S3_ENDPOINT_URL", "")

CSV_DELIMITER = ";"
TARGET_COLUMN = "disease_progression"
FEATURE_COLUMNS = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
# NaN policy: a dataset with any missing value is rejected, naming the columns; imputing silently
# would hide a broken upstream export.
MIN_ROWS = 50

# Seeded train/validation/test split: the test part is held out for the champion comparison.
RANDOM_SEED = 42
VALIDATION_FRACTION = 0.2
TEST_FRACTION = 0.2

# --- Candidate models (one mapped `model_training` task each) ---------------------------------------
# name -> scikit-learn estimator class (dotted path) and its parameters.
CANDIDATE_MODELS: dict[str, dict] = {
    "elastic_net": {
        "estimator": "sklearn.linear_model.ElasticNet",
        "params": {"alpha": 0.05, "l1_ratio": 0.5, "random_state": RANDOM_SEED},
    },
    "random_forest": {
        "estimator": "sklearn.ensemble.RandomForestRegressor",
        "params": {"n_estimators": 200, "max_depth": 6, "min_samples_leaf": 3,
                   "random_state": RANDOM_SEED, "n_jobs": 1},
    },
    "gradient_boosting": {
        "estimator": "sklearn.ensemble.GradientBoostingRegressor",
        "params": {"n_estimators": 150, "learning_rate": 0.05, "max_depth": 2,
                   "subsample": 0.8, "random_state": RANDOM_SEED},
    },
}

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
