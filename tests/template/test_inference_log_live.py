"""The model server's inference log on the live stack: a burst of N requests writes N rows into
the object store (read back through MLflow's artifact proxy, as the monitoring DAG reads them); with
the object store stopped no request fails and the lost rows are counted; `INFERENCE_LOG=off` in
`.env` writes nothing.
"""

from __future__ import annotations

import posixpath
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import requests

from stack.private import free_port
from stack.settings import Settings
from tests.conftest import LiveStack
from tests.integration.platform_apis import bucket_objects, mlflow_client, wait_until

pytestmark = [pytest.mark.integration]

COLUMNS = ["age", "bmi", "bp"]
BURST = 40
PREFIX = "inference"  # the model server's default INFERENCE_LOG_PREFIX


def features(rows: int, seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(seed).normal(size=(rows, len(COLUMNS))),
                        columns=COLUMNS)


def register_champion(settings: Settings, name: str) -> str:
    """A small regressor registered as `name`'s champion in the stack's MLflow; its version."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    client = mlflow_client(settings)
    training = features(30)
    model = LinearRegression().fit(training, training.sum(axis=1))
    mlflow.set_experiment(f"{name}-training")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(
            training, model.predict(training)))
    version = mlflow.register_model(info.model_uri, name).version
    client.set_registered_model_alias(name, "champion", version)
    return str(version)


def serve(server_url: str, name: str, version: str) -> None:
    response = requests.post(f"{server_url}/models/{name}/reload", timeout=300)
    assert response.status_code == 200 and response.json()["version"] == version, response.text


def burst(server_url: str, name: str, count: int = BURST) -> list[requests.Response]:
    """`count` one-row requests from 8 threads at once; every answer must be 200."""
    rows = features(count, seed=1)

    def one(index: int) -> requests.Response:
        body = {"dataframe_split": rows.iloc[[index]].to_dict(orient="split", index=False)}
        return requests.post(f"{server_url}/models/{name}/invocations", json=body, timeout=60)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(count)))
    failed = [(a.status_code, a.text[:200]) for a in answers if a.status_code != 200]
    assert not failed, failed[:3]
    return answers


def model_log(server_url: str, name: str) -> dict:
    """The server's inference-log counts of `name` (GET /models)."""
    listed = requests.get(f"{server_url}/models", timeout=10).json()["models"]
    return {m["model_name"]: m["inference_log"] for m in listed}.get(
        name, {"written_rows": 0, "dropped_rows": 0})


def log_files(prefix: str) -> list[str]:
    """Every file under `mlflow-artifacts:/<prefix>`, listed through the artifact proxy."""
    from mlflow.artifacts import list_artifacts

    found = []
    for info in list_artifacts(artifact_uri=f"mlflow-artifacts:/{prefix}"):
        child = f"{prefix}/{posixpath.basename(info.path)}"
        found += log_files(child) if info.is_dir else [child]
    return found


def log_rows(prefix: str) -> pd.DataFrame:
    from mlflow.artifacts import download_artifacts

    frames = [pd.read_parquet(download_artifacts(artifact_uri=f"mlflow-artifacts:/{path}"))
              for path in log_files(prefix)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@pytest.fixture(scope="module")
def logged_model(live_stack: LiveStack) -> Iterator[str]:
    """A model of its own, served by the stack's model server."""
    settings = live_stack.settings
    name = f"inference-log-{uuid.uuid4().hex[:8]}"
    serve(settings.model_server_url, name, register_champion(settings, name))
    yield name


def test_a_burst_of_n_requests_writes_n_rows_into_the_object_store(live_stack: LiveStack,
                                                                   logged_model: str) -> None:
    settings = live_stack.settings
    url, name = settings.model_server_url, logged_model
    answers = burst(url, name)
    wait_until(lambda: model_log(url, name)["written_rows"] >= BURST, 90,
               f"{BURST} rows of {name} written")

    prefix = f"{PREFIX}/{name}"
    rows = log_rows(prefix)
    assert len(rows) == BURST and model_log(url, name) == {"written_rows": BURST,
                                                           "dropped_rows": 0}
    assert list(rows.columns) == ["request_id", "timestamp", "model_name", "model_version",
                                  *COLUMNS, "prediction"]
    answered = {a.headers["x-request-id"]: a.json()["predictions"][0] for a in answers}
    assert sorted(rows["request_id"]) == sorted(answered)
    assert np.allclose(rows["prediction"], [answered[r] for r in rows["request_id"]])
    assert (rows["model_name"] == name).all() and (rows["model_version"] == "1").all()
    assert str(rows["timestamp"].dtype) == "datetime64[us, UTC]"
    day = datetime.now(UTC).date().isoformat()
    assert all(f"/{name}/date={day}/" in path for path in log_files(prefix))
    # In the artifact bucket, at the path the monitoring DAG reads (LOOP.md's contract).
    stored = bucket_objects(settings, f"{prefix}/date={day}/")
    assert stored and all(key.endswith(".parquet") for key in stored)


@pytest.mark.controls_stack
def test_with_the_object_store_stopped_no_request_fails_and_the_drops_are_counted(
        live_stack: LiveStack, logged_model: str) -> None:
    url, name = live_stack.settings.model_server_url, logged_model
    before, total_before = model_log(url, name), requests.get(f"{url}/health", timeout=10).json()[
        "inference_log"]["dropped_rows"]
    live_stack.stop_service("s3")
    try:
        burst(url, name)  # every one answered 200
        wait_until(lambda: model_log(url, name)["dropped_rows"] >= before["dropped_rows"] + BURST,
                   120, f"{BURST} rows of {name} counted as dropped")
        health = requests.get(f"{url}/health", timeout=10).json()["inference_log"]
        assert health["dropped_rows"] >= total_before + BURST
        assert health["last_error"] and name in health["last_error"]
        assert model_log(url, name)["written_rows"] == before["written_rows"]
    finally:
        live_stack.start_service("s3")
        live_stack.ready("s3")
    # The store back, the log writes again.
    burst(url, name, 5)
    wait_until(lambda: model_log(url, name)["written_rows"] >= before["written_rows"] + 5, 90,
               "the log writing again after the object store came back")


@pytest.mark.native
def test_inference_log_off_in_env_writes_nothing(live_stack: LiveStack, tmp_path) -> None:
    """A model server started as the native runner starts it, from `.env` with INFERENCE_LOG=off."""
    from stack.native.backends import load as load_backends
    from stack.native.layout import Layout
    from stack.native.programs import base_environment, program

    settings = live_stack.settings
    port = free_port()
    off = replace(settings, values={**settings.values, "INFERENCE_LOG": "off",
                                    "MODEL_SERVER_PORT": str(port)})
    layout = Layout(settings.state_dir)
    described = program("model-server", off, load_backends(layout), layout)
    assert described.env["INFERENCE_LOG"] == "off"
    name = f"inference-off-{uuid.uuid4().hex[:8]}"
    version = register_champion(settings, name)
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "model-server.log", "w") as output:
        process = subprocess.Popen(described.argv, env={**base_environment(), **described.env},
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            assert process.poll() is None, (tmp_path / "model-server.log").read_text()[-3000:]
            try:
                return requests.get(f"{url}/health", timeout=2).ok
            except requests.ConnectionError:
                return False

        wait_until(up, 120, "the second model server", poll=0.5)
        serve(url, name, version)
        answers = burst(url, name)
        assert all("x-request-id" not in a.headers for a in answers)
        time.sleep(15)  # longer than the log's flush interval (10 s): a log on would have written
        status = requests.get(f"{url}/health", timeout=10).json()["inference_log"]
        assert status["enabled"] is False and status["written_rows"] == status["queued_rows"] == 0
        assert log_files(f"{PREFIX}/{name}") == []
    finally:
        process.terminate()
        process.wait(timeout=30)
