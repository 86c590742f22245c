"""Fixtures of the template tests: a throwaway MLflow store, Airflow home, and the example data."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = REPO_ROOT / "project_template"
EXAMPLE_CSV = TEMPLATE_DIR / "Data" / "example_data" / "diabetes.csv"

# The template is imported as the package `project_template`, as its DAG file imports it;
# `stack` and `model_server` for the commands and the server.
for path in (REPO_ROOT, REPO_ROOT / "model-server"):
    if str(path) not in sys.path:
        sys.path.append(str(path))

# Airflow reads its home when first imported; without one it would write ~/airflow. These tests
# only parse DAGs (no database), so an existing AIRFLOW_HOME is left as it is.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="template-tests-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def use_store(folder: Path) -> str:
    """Point MLflow at a sqlite store in `folder`; artifacts go to `folder/mlruns`."""
    import mlflow

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One local MLflow store (sqlite, no server) for the session: creating one takes seconds."""
    return use_store(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture
def experiment(mlflow_store: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh experiment of the shared store, its artifacts in this test's tmp_path."""
    from mlflow.tracking import MlflowClient

    name = f"{request.node.name}-{uuid.uuid4().hex[:8]}"
    MlflowClient().create_experiment(name, artifact_location=(tmp_path / "artifacts").as_uri())
    return name


@pytest.fixture
def example_bytes() -> bytes:
    return EXAMPLE_CSV.read_bytes()


# Fast candidates for tests: a model that predicts the mean (worse than anything real), a linear
# model, and a small tree ensemble (skops needs its tree type trusted).
MEAN_ONLY = {"name": "mean_only", "estimator": "sklearn.dummy.DummyRegressor", "params": {}}
ELASTIC_NET = {"name": "elastic_net", "estimator": "sklearn.linear_model.ElasticNet",
               "params": {"alpha": 0.05, "l1_ratio": 0.5, "random_state": 42}}
SMALL_FOREST = {"name": "small_forest", "estimator": "sklearn.ensemble.RandomForestRegressor",
                "params": {"n_estimators": 10, "max_depth": 4, "random_state": 42}}


def run_lifecycle(source, experiment: str, model_name: str, candidates: list[dict],
                  dag_run_id: str | None = None, project: str = "project_template",
                  metric: str | None = None, promote: bool = True,
                  tags: dict[str, str] | None = None, batch=None) -> dict:
    """The DAG's steps in the DAG's order, as plain calls (what each task does, minus Airflow).

    Each call is a DAG run of its own unless given the `dag_run_id` of an earlier one (a retry's
    steps reuse what that run left). `project` is the package of the project to run (`wine_check`:
    the classification example); `metric` defaults to the project's own selection metric.
    `promote=False` stops before register_and_promote. `tags` and `batch` are what read_data gets
    from a triggering asset event.
    """
    dag_run_id = dag_run_id or f"manual__test-{uuid.uuid4().hex[:12]}"
    def platform(name: str):
        return importlib.import_module(f"{project}.mlops_platform.{name}")

    metric = metric or importlib.import_module(f"{project}.config").METRIC_BM
    data = platform("ingest").read_data(source, experiment, dag_run_id, tags, batch)
    splits = platform("splitting").data_processing(data["data_uri"], data["pipeline_run_id"])
    trained = [platform("training").train_candidate(candidate, splits, experiment,
                                                    data["pipeline_run_id"], dag_run_id,
                                                    data["data_version"])
               for candidate in candidates]
    best = platform("selection").select_best_model([model["run_id"] for model in trained], metric)
    decision = None
    if promote:
        decision = platform("promotion").register_and_promote(
            best, model_name, splits["test"], metric, pipeline_run_id=data["pipeline_run_id"])
    return {"data": data, "splits": splits, "trained": trained, "best": best,
            "decision": decision}


@pytest.fixture(scope="session")
def classification_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made as `make new-project TASK=classification` makes it (the wine example).

    Its folder's parent is put on sys.path, so it imports as the package `wine_check` beside
    `project_template`, as the DAG file imports it.
    """
    from stack.new_project import create_project

    folder = tmp_path_factory.mktemp("projects")
    project = create_project("wine-check", folder, task="classification")
    sys.path.append(str(folder))
    return project


# Every project's DAG: the template's, and the classification example's.
PROJECTS = ("project_template", "wine_check")


@pytest.fixture(params=PROJECTS)
def project_dir(request: pytest.FixtureRequest) -> Path:
    if request.param == "project_template":
        return TEMPLATE_DIR
    return request.getfixturevalue("classification_project")


# -- property-based tests (hypothesis) ------------------------------------------------------------

# `ci` (the default): a few hundred examples per property, the same ones on every run, so a
# failure is reproducible and CI is never flaky; `thorough` for a long hunt on a workstation.
settings.register_profile("ci", max_examples=100, derandomize=True, deadline=None,
                          database=None, print_blob=True)
settings.register_profile("dev", max_examples=40, derandomize=True, deadline=None,
                          database=None)
settings.register_profile("thorough", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@dataclass
class InputTally:
    """The distinct inputs the bad-data properties tried, per project, and how each ended."""

    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)  # project -> digest -> outcome

    def record(self, project: str, digest: str, outcome: str) -> None:
        self.outcomes.setdefault(project, {})[digest] = outcome

    def summary(self) -> list[str]:
        lines = []
        for project, outcomes in self.outcomes.items():
            counts = Counter(outcomes.values())
            lines.append(f"bad-data properties, {project}: {len(outcomes)} distinct inputs: "
                         + ", ".join(f"{name} {count}" for name, count in counts.most_common()))
        return lines


BAD_DATA_TALLY = InputTally()


def pytest_terminal_summary(terminalreporter) -> None:
    for line in BAD_DATA_TALLY.summary():
        terminalreporter.write_line(line)
