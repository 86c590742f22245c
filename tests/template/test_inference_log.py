"""The model server's inference log, in process: what a scored request writes, and that the log
never costs a request (a full queue and a failing upload drop rows and count them).

The live path (through MLflow's artifact proxy into the object store, the store stopped, the
setting of `.env`) is tests/template/test_inference_log_live.py.
"""

from __future__ import annotations

import io
import json
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from mlflow.models import infer_signature
from mlflow.pyfunc.scoring_server import _parse_json_data
from mlflow.tracking import MlflowClient
from model_server.app import build_app
from model_server.catalog import ModelCatalog
from model_server.inference_log import (
    KEYS,
    PREDICTION,
    InferenceLog,
    ScoredRequest,
    input_frame,
    prediction_column,
    row_count,
)
from model_server.settings import InferenceLogSettings, ServerSettings, SettingsError

with warnings.catch_warnings():  # Starlette's client on httpx 0.28 (uv.lock's) asks for httpx2
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

COLUMNS = ["age", "bmi", "bp"]


def frame(rows: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)


class Store:
    """An upload that keeps what it is given; `fail` makes it raise instead."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.fail: Exception | None = None
        self.calls = 0

    def __call__(self, path: str, data: bytes, content_type: str) -> str:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        assert content_type == "application/vnd.apache.parquet"
        self.files[path] = data
        return f"mlflow-artifacts:/{path}"

    def rows(self) -> pd.DataFrame:
        tables = [pq.read_table(io.BytesIO(data)).to_pandas() for data in self.files.values()]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def request(rows: int = 3, model: str = "m", request_id: str = "r1") -> ScoredRequest:
    inputs = frame(rows)
    return ScoredRequest(request_id, datetime.now(UTC), model, "1", inputs,
                         np.arange(rows, dtype=float), (), row_count(inputs))


def wait_for(condition, timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- settings ------------------------------------------------------------------------------------

def test_settings_default_to_the_log_on_and_one_variable_switches_it_off() -> None:
    env = {"REGISTERED_MODEL_NAME": "m"}
    log = ServerSettings.from_env(env).inference_log
    assert (log.enabled, log.prefix, log.flush_rows, log.flush_seconds, log.max_rows) == (
        True, "inference", 1000, 10.0, 100_000)
    assert not ServerSettings.from_env({**env, "INFERENCE_LOG": "off"}).inference_log.enabled


@pytest.mark.parametrize("variables, named", [
    ({"INFERENCE_LOG": "yes"}, "INFERENCE_LOG='yes'"),
    ({"INFERENCE_LOG_MAX_ROWS": "0"}, "INFERENCE_LOG_MAX_ROWS"),
    ({"INFERENCE_LOG_FLUSH_SECONDS": "soon"}, "INFERENCE_LOG_FLUSH_SECONDS"),
    ({"MLFLOW_TRACKING_URI": "sqlite:///x.db"}, "INFERENCE_LOG=off"),
])
def test_bad_log_settings_are_named(variables: dict, named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        ServerSettings.from_env({"REGISTERED_MODEL_NAME": "m", **variables})


# -- rows: MLflow's parsed inputs and its served outputs -------------------------------------------

class _Metadata:
    @staticmethod
    def _is_signature_from_type_hint() -> bool:
        return False


ROWS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
RECORDS = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]


@pytest.mark.parametrize("body", [
    {"dataframe_split": {"columns": COLUMNS, "data": ROWS}},
    {"dataframe_records": RECORDS},
    {"inputs": {"age": [1.0, 4.0], "bmi": [2.0, 5.0], "bp": [3.0, 6.0]}},
    {"inputs": RECORDS},
    {"instances": ROWS},
], ids=["dataframe_split", "dataframe_records", "inputs-columns", "inputs-records", "instances"])
def test_every_protocol_gives_one_named_column_per_input(body: dict) -> None:
    parsed = _parse_json_data(json.dumps(body), _Metadata, None).data  # as the scoring app parses
    assert row_count(parsed) == 2
    got = input_frame(parsed, tuple(COLUMNS))
    assert list(got.columns) == COLUMNS
    assert got.to_numpy().tolist() == ROWS


def test_unnamed_columns_that_do_not_match_the_schema_are_numbered() -> None:
    assert list(input_frame(np.ones((2, 2)), tuple(COLUMNS)).columns) == ["input_0", "input_1"]


def test_predictions_are_scalars_or_json_strings_per_row() -> None:
    assert prediction_column(np.array([1.5, 2.5]), 2) == [1.5, 2.5]
    assert prediction_column(np.array(["a", "b"]), 2) == ["a", "b"]
    probabilities = pd.DataFrame({"class_0": [0.25, 1.0], "class_1": [0.75, 0.0]})
    assert [json.loads(p) for p in prediction_column(probabilities, 2)] == [
        {"class_0": 0.25, "class_1": 0.75}, {"class_0": 1.0, "class_1": 0.0}]
    with pytest.raises(ValueError, match="1 rows for 2 input rows"):
        prediction_column(np.array([1.0]), 2)


# -- the queue and its writer ----------------------------------------------------------------------

def test_a_flush_by_size_writes_every_row_with_the_contracts_columns() -> None:
    store = Store()
    log = InferenceLog(InferenceLogSettings(flush_rows=6, flush_seconds=3600), store)
    log.start()
    try:
        assert log.record(request(3, request_id="a")) and log.record(request(3, request_id="b"))
        wait_for(lambda: log.status()["written_rows"] == 6, what="a flush by size")
    finally:
        log.close()
    (path,) = store.files
    day = datetime.now(UTC).date().isoformat()
    assert path.startswith(f"inference/m/date={day}/") and path.endswith(".parquet")
    rows = store.rows()
    assert list(rows.columns) == [*KEYS, *COLUMNS, PREDICTION]
    assert rows["request_id"].tolist() == ["a"] * 3 + ["b"] * 3
    assert str(rows["timestamp"].dtype) == "datetime64[us, UTC]"
    assert rows["model_version"].tolist() == ["1"] * 6
    assert rows[PREDICTION].tolist() == [0.0, 1.0, 2.0] * 2


def test_a_flush_by_time() -> None:
    log = InferenceLog(InferenceLogSettings(flush_rows=1000, flush_seconds=0.2), Store())
    log.start()
    try:
        log.record(request(2))
        wait_for(lambda: log.status()["written_rows"] == 2, what="a flush by time")
    finally:
        log.close()


def test_what_is_queued_at_shutdown_is_written() -> None:
    store = Store()
    log = InferenceLog(InferenceLogSettings(flush_rows=1000, flush_seconds=3600), store)
    log.start()
    log.record(request(5))
    log.close()
    assert log.status()["written_rows"] == 5 and len(store.files) == 1
    assert not log.record(request(1))  # after close: dropped and counted
    assert log.status()["dropped_rows"] == 1


def test_a_full_queue_drops_records_never_blocks_and_counts_the_rows() -> None:
    store = Store()
    release = threading.Event()

    def slow(path: str, data: bytes, content_type: str) -> str:
        release.wait(10)  # an upload that hangs: the held rows stay held
        return store(path, data, content_type)

    log = InferenceLog(InferenceLogSettings(flush_rows=4, flush_seconds=3600, max_rows=10), slow)
    log.start()
    try:
        assert log.record(request(4))  # taken by the writer, which now hangs on it
        wait_for(lambda: log.status()["queued_rows"] == 0, what="the writer to take the batch")
        assert log.record(request(3)) and log.record(request(3))
        started = time.monotonic()
        assert not log.record(request(2, model="other"))  # 12 > 10 held: dropped at once
        assert time.monotonic() - started < 0.1
        assert log.status()["dropped_rows"] == 2
        assert log.model_status("other") == {"written_rows": 0, "dropped_rows": 2}
    finally:
        release.set()
        log.close()
    assert log.status()["written_rows"] == 10


def test_a_failed_upload_drops_its_rows_counts_them_and_the_log_goes_on() -> None:
    store = Store()
    store.fail = ConnectionError("object store down")
    log = InferenceLog(InferenceLogSettings(flush_rows=3, flush_seconds=3600), store)
    log.start()
    try:
        log.record(request(3))
        wait_for(lambda: log.status()["dropped_rows"] == 3, what="the failed upload")
        assert "object store down" in log.status()["last_error"]
        store.fail = None
        log.record(request(3))
        wait_for(lambda: log.status()["written_rows"] == 3, what="the next upload")
    finally:
        log.close()
    assert log.status()["dropped_rows"] == 3


def test_a_request_that_cannot_be_logged_costs_only_its_own_rows() -> None:
    store = Store()
    log = InferenceLog(InferenceLogSettings(flush_rows=1000, flush_seconds=3600), store)
    odd = ScoredRequest("odd", datetime.now(UTC), "m", "1", frame(2), np.array([1.0]), (), 2)
    log.flush([request(3), odd])
    assert (log.status()["written_rows"], log.status()["dropped_rows"]) == (3, 2)
    assert "1 rows for 2 input rows" in log.status()["last_error"]


# -- the server: what MLflow's scoring app scored, for 200s only ------------------------------------

@pytest.fixture(scope="module")
def served_model(mlflow_store: str, tmp_path_factory) -> str:
    """A small registered regressor with a champion, in the session's sqlite store."""
    from sklearn.linear_model import LinearRegression

    name = f"logged-{time.time_ns()}"
    experiment = MlflowClient().create_experiment(
        name, artifact_location=tmp_path_factory.mktemp("logged").as_uri())
    features = frame(20)
    model = LinearRegression().fit(features, features.sum(axis=1))
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.sklearn.log_model(model, name="model",
                                        signature=infer_signature(features, model.predict(features)))
    version = mlflow.register_model(info.model_uri, name).version
    MlflowClient().set_registered_model_alias(name, "champion", version)
    return name


@contextmanager
def server(name: str, log: InferenceLog) -> Iterator[TestClient]:
    """The model server's app in process, serving `name`'s champion, its lifespan running."""
    with TestClient(build_app(ModelCatalog(name, "champion"), 0, log)) as client:
        wait_for(lambda: client.get("/health").json()["version"] is not None, 60, "the champion")
        yield client


@pytest.fixture
def logged(served_model: str) -> Iterator[tuple[TestClient, InferenceLog, Store]]:
    store = Store()
    log = InferenceLog(InferenceLogSettings(flush_rows=1000, flush_seconds=0.1), store)
    with server(served_model, log) as client:
        yield client, log, store


def test_each_protocol_is_logged_as_scored_and_a_failed_request_is_not(logged, served_model):
    client, log, store = logged
    features = frame(3)
    bodies = [
        {"json": {"dataframe_split": features.to_dict(orient="split", index=False)}},
        {"json": {"dataframe_records": features.to_dict(orient="records")}},
        {"json": {"inputs": features.to_dict(orient="list")}},
        {"content": features.to_csv(index=False), "headers": {"Content-Type": "text/csv"}},
    ]
    answers = [client.post("/invocations", **body) for body in bodies]
    assert [a.status_code for a in answers] == [200] * 4
    missing = client.post("/invocations", json={
        "dataframe_split": features.drop(columns=["bmi"]).to_dict(orient="split", index=False)})
    assert missing.status_code == 400
    wait_for(lambda: log.status()["written_rows"] == 12, what="12 rows")

    rows = store.rows()
    assert len(rows) == 12 and log.status()["dropped_rows"] == 0
    assert set(rows["request_id"]) == {a.headers["x-request-id"] for a in answers}
    assert (rows["model_name"] == served_model).all() and (rows["model_version"] == "1").all()
    served = [p for a in answers for p in a.json()["predictions"]]
    by_request = rows.set_index("request_id").loc[[a.headers["x-request-id"] for a in answers]]
    assert np.allclose(by_request[PREDICTION].to_numpy(), served)
    assert np.allclose(by_request[COLUMNS].to_numpy(), np.vstack([features.to_numpy()] * 4))

    status = client.get("/health").json()["inference_log"]
    assert (status["enabled"], status["written_rows"], status["dropped_rows"]) == (True, 12, 0)
    listed = {m["model_name"]: m["inference_log"] for m in client.get("/models").json()["models"]}
    assert listed[served_model] == {"written_rows": 12, "dropped_rows": 0}


def test_switched_off_nothing_is_recorded(served_model):
    store = Store()
    log = InferenceLog(InferenceLogSettings(enabled=False, flush_seconds=0.1), store)
    with server(served_model, log) as client:
        answer = client.post("/invocations", json={
            "dataframe_split": frame(3).to_dict(orient="split", index=False)})
        assert answer.status_code == 200 and "x-request-id" not in answer.headers
        assert client.get("/health").json()["inference_log"]["enabled"] is False
    assert log.status()["queued_rows"] == 0 and store.calls == 0
