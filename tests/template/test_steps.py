"""Each step as a plain function against a throwaway local MLflow store."""

from __future__ import annotations

import hashlib

import boto3
import mlflow
import pytest
from conftest import ELASTIC_NET, MEAN_ONLY, SMALL_FOREST
from mlflow.tracking import MlflowClient
from moto import mock_aws

from project_template import config
from project_template.Data import read_data as read_data_module
from project_template.Data.read_data import (
    DataSource,
    DataSourceError,
    fetch_raw_data,
    resolve_data_source,
)
from project_template.mlops_platform.dataset_store import load_frame
from project_template.mlops_platform.ingest import read_data
from project_template.mlops_platform.metrics import is_better, metric_for_split
from project_template.mlops_platform.selection import SelectionError, select_best_model
from project_template.mlops_platform.splitting import data_processing
from project_template.mlops_platform.training import train_candidate
from project_template.Models.candidates import CandidateError, build_estimator, resolve_candidates


@pytest.fixture
def pipeline(experiment):
    """read_data and data_processing of the example data, as the DAG's first two tasks."""
    data = read_data(resolve_data_source("local"), experiment, "manual__steps")
    return experiment, data, data_processing(data["data_uri"], data["pipeline_run_id"])


def _artifact_bytes(uri: str, tmp_path) -> bytes:
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path / "dl"))
    with open(local, "rb") as handle:
        return handle.read()


def test_read_data_keeps_the_exact_bytes_with_their_version(experiment, example_bytes, tmp_path):
    data = read_data(resolve_data_source("local"), experiment, "manual__1")
    assert _artifact_bytes(data["data_uri"], tmp_path) == example_bytes
    assert data["data_version"] == hashlib.sha256(example_bytes).hexdigest()
    run = MlflowClient().get_run(data["pipeline_run_id"])
    assert run.data.tags["airflow.dag_run_id"] == "manual__1"
    assert run.data.tags["data_version"] == data["data_version"]
    assert run.data.tags["data_source"].startswith("local:")
    assert run.info.status == "FINISHED"


def test_each_dag_run_gets_its_own_copy(experiment):
    first = read_data(resolve_data_source("local"), experiment, "manual__1")
    second = read_data(resolve_data_source("local"), experiment, "manual__2")
    assert first["data_uri"] != second["data_uri"]
    assert first["data_version"] == second["data_version"]


def test_s3_source_reads_the_object(monkeypatch, example_bytes):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(config, "S3_ENDPOINT_URL", "")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="data")
        boto3.client("s3").put_object(Bucket="data", Key="in/diabetes.csv", Body=example_bytes)
        assert fetch_raw_data(DataSource("s3", "s3://data/in/diabetes.csv")) == example_bytes
        with pytest.raises(DataSourceError, match="NoSuchKey"):
            fetch_raw_data(DataSource("s3", "s3://data/missing.csv"))


def test_ids_source_asks_the_connector_for_the_title(monkeypatch, example_bytes):
    import io

    from project_template.IDS_templates import rest_ids_consumer_connector

    calls = []

    class FakeConnector:
        def get_external_artifact_by_resource_title(self, *args):
            calls.append(args)
            return io.BytesIO(example_bytes)

    monkeypatch.setattr(rest_ids_consumer_connector, "RestIDSConsumerConnector", FakeConnector)
    source = resolve_data_source("ids")
    assert source.location == config.DATA.ids_title
    assert fetch_raw_data(source) == example_bytes
    assert calls == [(config.DATA.ids_title, config.IDS_EDGE_HOST, config.IDS_EDGE_PORT,
                      config.IDS_CLOUD_HOST, config.IDS_CLOUD_PORT)]


def test_source_errors_name_the_source(tmp_path):
    with pytest.raises(DataSourceError, match="does not exist"):
        fetch_raw_data(DataSource("local", str(tmp_path / "nope.csv")))
    with pytest.raises(DataSourceError, match="not an s3://bucket/key URI"):
        fetch_raw_data(DataSource("s3", "https://example.org/x.csv"))
    with pytest.raises(DataSourceError, match="unknown data source 'ftp'"):
        resolve_data_source("ftp")
    with pytest.raises(DataSourceError, match="needs a location"):
        read_data_module.resolve_data_source("s3", "")


def test_split_is_seeded_disjoint_and_complete(pipeline):
    _, data, splits = pipeline
    parts = {name: load_frame(uri) for name, uri in splits.items()}
    for name, fraction in (("validation", config.VALIDATION_FRACTION),
                           ("test", config.TEST_FRACTION)):
        assert abs(len(parts[name]) - fraction * 442) <= 1, name
    rows = [tuple(row) for part in parts.values() for row in part.itertuples(index=False)]
    assert len(rows) == 442
    assert sorted(rows) == sorted(tuple(row) for row in load_frame(data["data_uri"])
                                  .astype("float64").itertuples(index=False))
    again = data_processing(data["data_uri"], data["pipeline_run_id"])
    assert load_frame(again["test"]).equals(parts["test"])


def test_training_logs_params_metrics_lineage_and_model(pipeline):
    experiment, data, splits = pipeline
    result = train_candidate(ELASTIC_NET, splits, experiment, data["pipeline_run_id"],
                             "manual__steps", data["data_version"])
    run = MlflowClient().get_run(result["run_id"])
    assert run.data.params["alpha"] == "0.05"
    assert run.data.params["estimator"] == "sklearn.linear_model.ElasticNet"
    for metric in ("r2_train", "rmse_train", "mae_train", "r2_validation", "rmse_validation",
                   "mae_validation"):
        assert metric in run.data.metrics
    assert 0.2 < run.data.metrics["r2_validation"] < 0.8
    assert run.data.tags["mlflow.parentRunId"] == data["pipeline_run_id"]
    assert run.data.tags["estimator"] == "sklearn.linear_model.ElasticNet"
    assert run.data.tags["airflow.dag_run_id"] == "manual__steps"
    assert run.data.tags["data_version"] == data["data_version"]
    inputs = {(d.dataset.name, t.value) for d in run.inputs.dataset_inputs for t in d.tags
              if t.key == "mlflow.data.context"}
    assert inputs == {("train", "training"), ("validation", "validation")}
    # They are the very datasets data_processing registered on the pipeline run: the candidates,
    # which train side by side, reuse them instead of racing to add the same new one.
    pipeline_inputs = {d.dataset.name: d.dataset.digest
                       for d in MlflowClient().get_run(data["pipeline_run_id"]).inputs.dataset_inputs}
    assert set(pipeline_inputs) == {"train", "validation", "test"}
    assert {d.dataset.name: d.dataset.digest for d in run.inputs.dataset_inputs} == {
        name: pipeline_inputs[name] for name in ("train", "validation")}

    model = mlflow.pyfunc.load_model(result["model_uri"])
    assert model.metadata.get_input_schema().input_names() == list(config.FEATURE_COLUMNS)
    assert model.metadata.saved_input_example_info is not None
    test = load_frame(splits["test"])
    assert len(model.predict(test.drop(columns=[config.TARGET_COLUMN]))) == len(test)


def test_tree_models_are_saved_with_skops_and_load(pipeline):
    experiment, data, splits = pipeline
    result = train_candidate(SMALL_FOREST, splits, experiment, data["pipeline_run_id"],
                             "manual__steps", data["data_version"])
    flavor = mlflow.models.get_model_info(result["model_uri"]).flavors["sklearn"]
    assert flavor["serialization_format"] == "skops"
    assert "sklearn.tree._tree.Tree" in flavor["skops_trusted_types"]
    assert mlflow.sklearn.load_model(result["model_uri"]).named_steps["model"].n_estimators == 10


def test_select_best_model_by_max_and_min(pipeline):
    experiment, data, splits = pipeline
    runs = [train_candidate(candidate, splits, experiment, data["pipeline_run_id"], "manual__steps",
                            data["data_version"]) for candidate in (MEAN_ONLY, ELASTIC_NET)]
    ids = [run["run_id"] for run in runs]
    best = select_best_model(ids, "r2_validation")
    assert best["candidate"] == "elastic_net" and best["run_id"] == runs[1]["run_id"]
    assert best["model_uri"] == runs[1]["model_uri"]
    # Each metric knows which way is better: the lowest error wins.
    assert select_best_model(ids, "rmse_validation")["candidate"] == "elastic_net"
    assert select_best_model(ids, "mae_validation")["candidate"] == "elastic_net"
    with pytest.raises(SelectionError, match="'roc_auc_validation' is not a regression metric"):
        select_best_model(ids, "roc_auc_validation")


def test_candidates_resolve_by_name_and_reject_unknown_ones():
    assert [c["name"] for c in resolve_candidates()] == list(config.CANDIDATE_MODELS)
    assert [c["name"] for c in resolve_candidates(["random_forest"])] == ["random_forest"]
    with pytest.raises(CandidateError, match="unknown candidate model.*xgboost"):
        resolve_candidates(["xgboost"])
    with pytest.raises(CandidateError, match="cannot build sklearn.linear_model.Nope"):
        build_estimator({"name": "typo", "estimator": "sklearn.linear_model.Nope", "params": {}})
    with pytest.raises(CandidateError, match="no fit/predict"):
        build_estimator({"name": "not_a_model", "estimator": "collections.OrderedDict"})
    for candidate in resolve_candidates():
        assert build_estimator(candidate).get_params()["random_state"] == config.RANDOM_SEED


def test_metric_helpers():
    assert metric_for_split("r2_validation", "test") == "r2_test"
    assert metric_for_split("rmse_validation", "test") == "rmse_test"
    with pytest.raises(ValueError):
        metric_for_split("accuracy", "test")
    assert is_better(0.5, None, True)
    assert is_better(0.5, 0.4, True) and not is_better(0.4, 0.5, True)
    assert is_better(1.0, 2.0, False) and not is_better(2.0, 1.0, False)
    assert not is_better(0.5, 0.5, True) and not is_better(0.5, 0.5, False)  # ties keep
    assert not is_better(float("nan"), 0.1, True)
