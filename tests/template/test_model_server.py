"""The model server: healthy without a champion, serves every registered model's champion at its
own endpoint, predicts exactly like the registry's champion, and switches champions under load
without a failed request."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import mlflow
import numpy as np
import pytest
import requests
from conftest import (
    ELASTIC_NET,
    EXAMPLE_CSV,
    MEAN_ONLY,
    REPO_ROOT,
    SMALL_FOREST,
    run_lifecycle,
)
from mlflow.tracking import MlflowClient

from project_template import config
from project_template.Data.read_data import DataSource
from project_template.mlops_platform.deployment import DeploymentError, deploy
from project_template.mlops_platform.training import train_candidate
from stack.private import free_port
from tests.integration.platform_apis import wait_until

LOCAL = DataSource("local", str(EXAMPLE_CSV))


@contextmanager
def model_server(mlflow_store: str, tmp_path_factory) -> Iterator[dict]:
    """`python -m model_server` on a free port, following a new model with no versions yet."""
    name = f"served-{os.getpid()}-{time.time_ns()}"
    experiment = name
    MlflowClient().create_experiment(
        experiment, artifact_location=tmp_path_factory.mktemp("served").as_uri())
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "model-server"),
           "MLFLOW_TRACKING_URI": mlflow_store, "REGISTERED_MODEL_NAME": name,
           "MODEL_SERVER_PORT": str(port), "MODEL_SERVER_BIND_HOST": "127.0.0.1",
           "MODEL_SERVER_POLL_SECONDS": "0.5",
           # A sqlite store has no artifact proxy to write the log through (tested elsewhere).
           "INFERENCE_LOG": "off"}
    log = tmp_path_factory.mktemp("server-log") / "model-server.log"
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "model_server"], env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        yield {"url": url, "name": name, "experiment": experiment, "log": log}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def empty_server(mlflow_store, tmp_path_factory) -> Iterator[dict]:
    """A server whose model has no champion."""
    with model_server(mlflow_store, tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="module")
def server(mlflow_store, tmp_path_factory) -> Iterator[dict]:
    """A server that `deploy` made serve the champion of a lifecycle run (`deployed`: its result),
    so that each test passes alone (`-k`) and in any order."""
    with model_server(mlflow_store, tmp_path_factory) as server:
        decision = run_lifecycle(LOCAL, server["experiment"], server["name"], [ELASTIC_NET])
        assert decision["decision"]["promoted"]
        deployed = deploy(server["url"], server["name"], "champion", timeout=60, poll_seconds=0.5)
        yield {**server, "deployed": deployed}


def _features(rows: int = 8):
    import pandas as pd

    frame = pd.read_csv(EXAMPLE_CSV, sep=";").head(rows)
    return frame.drop(columns=[config.TARGET_COLUMN])


def _predict(url: str, features, timeout: float = 30) -> requests.Response:
    return requests.post(f"{url}/invocations", timeout=timeout,
                         json={"dataframe_split": features.to_dict(orient="split", index=False)})


def _wait_for_version(url: str, version: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while requests.get(f"{url}/health", timeout=5).json()["version"] != version:
        assert time.monotonic() < deadline, f"server never served version {version}"
        time.sleep(0.2)


def test_without_champion_it_is_healthy_and_answers_503(empty_server):
    server = empty_server
    health = requests.get(f"{server['url']}/health", timeout=5)
    assert health.status_code == 200 and health.json()["version"] is None
    assert requests.get(f"{server['url']}/ping", timeout=5).status_code == 200
    assert requests.get(f"{server['url']}/version", timeout=5).text == mlflow.__version__
    response = _predict(server["url"], _features())
    assert response.status_code == 503
    assert response.json()["error_code"] == "NO_CHAMPION"
    assert server["name"] in response.json()["message"]


def test_deploy_makes_it_serve_the_champion_and_it_predicts_like_the_registry(server):
    result = server["deployed"]
    assert result["deployed"] and str(result["version"]) == "1"

    # Another test may have switched the champion since: compare with the one served now.
    champion = MlflowClient().get_model_version_by_alias(server["name"], "champion")
    _wait_for_version(server["url"], str(champion.version))

    features = _features()
    expected = mlflow.pyfunc.load_model(f"models:/{server['name']}@champion").predict(features)
    url = f"{server['url']}/invocations"
    answers = {
        "dataframe_split": requests.post(url, timeout=30, json={
            "dataframe_split": features.to_dict(orient="split", index=False)}),
        "dataframe_records": requests.post(url, timeout=30, json={
            "dataframe_records": features.to_dict(orient="records")}),
        "inputs": requests.post(url, timeout=30, json={
            "inputs": features.to_dict(orient="list")}),
        "csv": requests.post(url, timeout=30, data=features.to_csv(index=False),
                             headers={"Content-Type": "text/csv"}),
    }
    for protocol, response in answers.items():
        assert response.status_code == 200, (protocol, response.text)
        assert np.array_equal(np.asarray(response.json()["predictions"]), expected), protocol


def _register_candidate(server: dict, candidate: dict) -> tuple[str, dict]:
    """Train `candidate` on the champion's splits and register it (no alias); return its version."""
    client = MlflowClient()
    champion = client.get_model_version_by_alias(server["name"], "champion")
    training_run = client.get_run(champion.run_id)
    pipeline_run_id = training_run.data.tags["mlflow.parentRunId"]
    artifact = client.get_run(pipeline_run_id).info.artifact_uri
    splits = {part: f"{artifact}/splits/{part}.csv" for part in ("train", "validation", "test")}
    trained = train_candidate(candidate, splits, server["experiment"], pipeline_run_id,
                              "manual__server", training_run.data.tags["data_version"])
    return str(mlflow.register_model(trained["model_uri"], server["name"]).version), trained


def _stream_through_a_switch(url: str, body: dict, switch, wait_switched) -> tuple[list, float]:
    """POST `body` to `url` from two threads while `switch()` moves the alias; returns every
    (start time, status, predictions) and the moment the server served the new version."""
    results: list[tuple[float, int, object]] = []
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = requests.post(url, json=body, timeout=30)
                results.append((started, response.status_code, response.json()["predictions"]))
            except Exception as error:  # a dropped connection counts as a failure
                results.append((started, -1, repr(error)))

    def answered_since(moment: float) -> int:
        return sum(1 for started, _, _ in list(results) if started > moment)

    threads = [threading.Thread(target=stream) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_until(lambda: answered_since(0) >= 10, 60, "10 answers from the old champion", poll=0.05)
    switch()  # the poller follows
    wait_switched()
    switched = time.monotonic()
    wait_until(lambda: answered_since(switched) >= 10, 60, "10 answers after the switch",
               poll=0.05)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    return results, switched


def _assert_switched_cleanly(results: list, switched: float, old, new) -> None:
    assert results and all(status == 200 for _, status, _ in results), \
        [r for r in results if r[1] != 200][:3]
    served = [np.asarray(predictions) for _, _, predictions in results]
    assert all(np.array_equal(p, old) or np.array_equal(p, new) for p in served)
    assert any(np.array_equal(p, old) for p in served)
    after = [np.asarray(p) for started, _, p in results if started > switched]
    assert after and all(np.array_equal(p, new) for p in after)


def test_champion_switch_under_a_request_stream_drops_nothing(server):
    client = MlflowClient()
    first = client.get_model_version_by_alias(server["name"], "champion")
    second, _ = _register_candidate(server, SMALL_FOREST)

    features = _features(5)
    old = mlflow.pyfunc.load_model(f"models:/{server['name']}/{first.version}").predict(features)
    new = mlflow.pyfunc.load_model(f"models:/{server['name']}/{second}").predict(features)
    assert not np.array_equal(old, new)

    results, switched = _stream_through_a_switch(
        f"{server['url']}/invocations",
        {"dataframe_split": features.to_dict(orient="split", index=False)},
        lambda: client.set_registered_model_alias(server["name"], "champion", second),
        lambda: _wait_for_version(server["url"], str(second)))
    _assert_switched_cleanly(results, switched, old, new)


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(server):
    client = MlflowClient()
    serving = str(client.get_model_version_by_alias(server["name"], "champion").version)
    broken, trained = _register_candidate(server, MEAN_ONLY)
    model_id = trained["model_uri"].removeprefix("models:/")
    location = Path(urlparse(client.get_logged_model(model_id).artifact_location).path)
    (location / "model.skops").unlink()
    client.set_registered_model_alias(server["name"], "champion", broken)
    try:
        with pytest.raises(DeploymentError,
                           match=f"does not serve {server['name']} version {broken}.*model.skops"):
            deploy(server["url"], server["name"], "champion", timeout=3, poll_seconds=0.5)
        health = requests.get(f"{server['url']}/health", timeout=5).json()
        assert health["version"] == serving and "model.skops" in health["last_error"]
        assert _predict(server["url"], _features()).status_code == 200
    finally:
        client.set_registered_model_alias(server["name"], "champion", serving)


def test_every_registered_champion_is_served_at_its_own_endpoint(server):
    client = MlflowClient()
    other = f"{server['name']}-other"
    champion = client.get_model_version_by_alias(server["name"], "champion")
    version = mlflow.register_model(f"models:/{server['name']}/{champion.version}", other).version
    client.set_registered_model_alias(other, "champion", version)
    result = deploy(server["url"], other, "champion", timeout=20, poll_seconds=0.5)
    assert result["deployed"] and result["endpoint"] == f"{server['url']}/models/{other}/invocations"

    features = _features()
    expected = mlflow.pyfunc.load_model(f"models:/{other}@champion").predict(features)
    response = requests.post(result["endpoint"], timeout=30, json={
        "dataframe_split": features.to_dict(orient="split", index=False)})
    assert response.status_code == 200, response.text
    assert np.array_equal(np.asarray(response.json()["predictions"]), expected)
    # /invocations stays the default model; GET /models lists both with their versions.
    assert requests.get(f"{server['url']}/health", timeout=5).json()["model_name"] == server["name"]
    listed = {model["model_name"]: model["version"]
              for model in requests.get(f"{server['url']}/models", timeout=5).json()["models"]}
    # (The test store holds other tests' models too: the server follows every one with a champion.)
    assert {server["name"]: str(champion.version), other: str(version)}.items() <= listed.items()


def test_an_unknown_model_and_a_model_without_champion_are_told_apart(server):
    unknown = requests.post(f"{server['url']}/models/nobody/invocations", timeout=10,
                            json={"dataframe_split": _features(1).to_dict(orient="split",
                                                                          index=False)})
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "MODEL_NOT_SERVED"
    reload = requests.post(f"{server['url']}/models/nobody/reload", timeout=10)
    assert reload.status_code == 404 and reload.json()["error_code"] == "NO_CHAMPION"
    listed = [m["model_name"] for m in requests.get(f"{server['url']}/models", timeout=5).json()[
        "models"]]
    assert "nobody" not in listed
    with pytest.raises(DeploymentError, match="has no 'champion' version"):
        deploy(server["url"], "nobody", "champion", timeout=2)


def test_a_request_missing_a_column_gets_a_4xx_naming_it(server):
    features = _features(2).drop(columns=["bmi"])
    response = requests.post(f"{server['url']}/models/{server['name']}/invocations", timeout=30,
                             json={"dataframe_split": features.to_dict(orient="split", index=False)})
    assert 400 <= response.status_code < 500, response.text
    assert "bmi" in response.json()["message"]


def test_a_classifier_answers_labels_and_probabilities_when_asked(server, classification_project):
    import importlib

    name = f"{server['name']}-wine"
    reader = importlib.import_module("wine_check.Data.read_data")
    wine_config = importlib.import_module("wine_check.config")
    run_lifecycle(reader.resolve_data_source("local"), server["experiment"], name,
                  [{"name": "logistic", "estimator": "sklearn.linear_model.LogisticRegression",
                    "params": {"max_iter": 2000}}], project="wine_check")
    result = deploy(server["url"], name, "champion", timeout=60, poll_seconds=0.5)
    import pandas as pd

    rows = pd.read_csv(wine_config.LOCAL_DATA_FILE, sep=";").head(4)
    body = {"dataframe_split": rows[list(wine_config.FEATURE_COLUMNS)].to_dict(orient="split",
                                                                               index=False)}
    labels = requests.post(result["endpoint"], json=body, timeout=30)
    assert labels.status_code == 200, labels.text
    local = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    features = rows[list(wine_config.FEATURE_COLUMNS)]
    assert labels.json()["predictions"] == list(local.predict(features))
    probabilities = requests.post(result["endpoint"], timeout=30, json={
        **body, "params": {"predict_method": "predict_proba"}})
    assert probabilities.status_code == 200, probabilities.text
    served = pd.DataFrame(probabilities.json()["predictions"])
    expected = local.predict(features, params={"predict_method": "predict_proba"})
    assert list(served.columns) == ["class_0", "class_1", "class_2"]
    assert np.allclose(served.to_numpy(), expected.to_numpy())
    wrong = requests.post(result["endpoint"], timeout=30, json={
        **body, "params": {"predict_method": "decision_function"}})
    assert wrong.status_code == 400 and "predict_method" in wrong.json()["message"]


def test_a_classifiers_switch_under_a_request_stream_drops_nothing(server, classification_project):
    """The same for a classification project at its own endpoint (after the test above)."""
    import importlib

    name = f"{server['name']}-wine"
    client = MlflowClient()
    first = client.get_model_version_by_alias(name, "champion").version
    wine_config = importlib.import_module("wine_check.config")
    reader = importlib.import_module("wine_check.Data.read_data")
    # A weaker classifier, registered as a challenger; then made champion by hand under load.
    second = run_lifecycle(reader.resolve_data_source("local"), server["experiment"], name,
                           [{"name": "shallow_tree",
                             "estimator": "sklearn.tree.DecisionTreeClassifier",
                             "params": {"max_depth": 1, "random_state": 0}}],
                           project="wine_check")["decision"]["version"]
    import pandas as pd

    features = pd.read_csv(wine_config.LOCAL_DATA_FILE, sep=";")[
        list(wine_config.FEATURE_COLUMNS)].iloc[::15]
    old = mlflow.pyfunc.load_model(f"models:/{name}/{first}").predict(features)
    new = mlflow.pyfunc.load_model(f"models:/{name}/{second}").predict(features)
    assert not np.array_equal(old, new)

    def served_now() -> None:
        deadline = time.monotonic() + 60
        while {m["model_name"]: m["version"] for m in requests.get(
                f"{server['url']}/models", timeout=5).json()["models"]}.get(name) != second:
            assert time.monotonic() < deadline, f"{name} version {second} never served"
            time.sleep(0.2)

    results, switched = _stream_through_a_switch(
        f"{server['url']}/models/{name}/invocations",
        {"dataframe_split": features.to_dict(orient="split", index=False)},
        lambda: client.set_registered_model_alias(name, "champion", second), served_now)
    _assert_switched_cleanly(results, switched, old, new)
