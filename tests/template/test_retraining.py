"""A lifecycle run started by the retraining asset: the event as pipeline-run tags, the labeled
batch it names appended to the project's data with its own version in lineage, and the promotion
decision recorded beside them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from types import SimpleNamespace

import mlflow
import pandas as pd
from conftest import ELASTIC_NET, EXAMPLE_CSV, run_lifecycle
from mlflow.tracking import MlflowClient

from project_template import config
from project_template.Data.read_data import DataSource, resolve_data_source
from project_template.mlops_platform.ingest import append_batch
from project_template.mlops_platform.retraining_trigger import retraining_trigger, run_tags


def event(minute: int, **extra) -> SimpleNamespace:
    """An asset event as a task's `triggering_asset_events[asset]` lists it."""
    return SimpleNamespace(
        asset=SimpleNamespace(name=config.RETRAINING_ASSET_NAME), extra=extra,
        source_dag_id="project_template_monitoring", source_run_id=f"scheduled__{minute}",
        source_task_id="emit_retraining_event",
        timestamp=datetime(2026, 12, 2, 6, minute, tzinfo=UTC))


def test_the_newest_event_started_the_run_and_each_reason_is_a_tag():
    older = event(1, reason="drift", drift_share=0.2, drifted_columns=["age"],
                  monitoring_run_id="old")
    newest = event(5, reason="drift+performance", drift_share=0.4,
                   drifted_columns=["bmi", "bp"], monitoring_run_id="abc123", metric="r2_test",
                   champion_score_recorded=0.45, champion_score_new_batch=0.1,
                   data_location="diabetes-batch-2")
    trigger = retraining_trigger([newest, older])
    assert trigger.batch_location == "diabetes-batch-2" and trigger.batch_source_kind == ""
    assert run_tags(SimpleNamespace(value="asset_triggered"), trigger) == {
        "airflow.run_type": "asset_triggered",
        "retraining.asset": config.RETRAINING_ASSET_NAME,
        "retraining.source_dag_id": "project_template_monitoring",
        "retraining.source_run_id": "scheduled__5",
        "retraining.source_task_id": "emit_retraining_event",
        "retraining.event_timestamp": "2026-12-02T06:05:00+00:00",
        "retraining.events_consumed": "2",
        "retraining.reason": "drift+performance",
        "retraining.drift_share": "0.4",
        "retraining.drifted_columns": '["bmi", "bp"]',
        "retraining.monitoring_run_id": "abc123",
        "retraining.metric": "r2_test",
        "retraining.champion_score_recorded": "0.45",
        "retraining.champion_score_new_batch": "0.1",
        "retraining.data_location": "diabetes-batch-2",
    }


def test_a_run_no_event_started_records_only_its_run_type():
    from airflow.utils.types import DagRunType

    assert retraining_trigger([]) is None
    assert run_tags(DagRunType.MANUAL, None) == {"airflow.run_type": "manual"}
    assert retraining_trigger([event(1, reason="drift")]).batch_location == ""


def test_a_batch_adds_only_the_rows_the_dataset_lacks():
    dataset = pd.DataFrame({"x": [1.0, 2.0, 2.0, None], "y": ["a", "b", "b", "c"]})
    batch = pd.DataFrame({"x": [2.0, 3.0, None, 3.0], "y": ["b", "d", "c", "e"]})
    combined = append_batch(dataset, batch)
    # The dataset's own rows stay as they were, duplicates included; rows seen before (a missing
    # value matches a missing value) are not added again.
    pd.testing.assert_frame_equal(combined, pd.DataFrame(
        {"x": [1.0, 2.0, 2.0, None, 3.0, 3.0], "y": ["a", "b", "b", "c", "d", "e"]}))
    assert append_batch(dataset, dataset).equals(dataset)


def _batch_file(tmp_path, shared: int, new: int) -> tuple[bytes, str]:
    """A labeled batch: `shared` rows of the example data, then `new` rows with a shifted bmi."""
    lines = EXAMPLE_CSV.read_text().splitlines()
    header = lines[0].split(";")
    bmi = header.index("bmi")
    fresh = []
    for line in lines[1:new + 1]:
        cells = line.split(";")
        cells[bmi] = f"{float(cells[bmi]) + 8:.1f}"
        fresh.append(";".join(cells))
    raw = ("\n".join([lines[0], *lines[-shared:], *fresh]) + "\n").encode()
    path = tmp_path / "batch.csv"
    path.write_bytes(raw)
    return raw, str(path)


def test_a_retraining_run_appends_the_batch_and_records_event_versions_and_decision(
        experiment, tmp_path):
    first = run_lifecycle(resolve_data_source("local"), experiment, f"{experiment}-model",
                          [ELASTIC_NET], dag_run_id="manual__first")
    batch_raw, batch_path = _batch_file(tmp_path, shared=10, new=25)
    trigger = retraining_trigger([event(7, reason="drift", drift_share=0.3,
                                        drifted_columns=["bmi"], monitoring_run_id="m1",
                                        data_location=batch_path)])
    retrained = run_lifecycle(
        resolve_data_source("local"), experiment, f"{experiment}-model", [ELASTIC_NET],
        dag_run_id="asset_triggered__1", tags=run_tags("asset_triggered", trigger),
        batch=DataSource("local", trigger.batch_location))

    client = MlflowClient()
    run = client.get_run(retrained["data"]["pipeline_run_id"])
    tags = run.data.tags
    assert tags["airflow.run_type"] == "asset_triggered"
    assert tags["retraining.source_run_id"] == "scheduled__7"
    assert tags["retraining.monitoring_run_id"] == "m1"
    assert tags["retraining.drifted_columns"] == '["bmi"]'
    # The combined data is a new version; the base and the batch keep theirs.
    base_version = hashlib.sha256(EXAMPLE_CSV.read_bytes()).hexdigest()
    assert first["data"]["data_version"] == base_version == tags["base_data_version"]
    stored = mlflow.artifacts.download_artifacts(artifact_uri=retrained["data"]["data_uri"],
                                                 dst_path=str(tmp_path / "dl"))
    with open(stored, "rb") as handle:
        combined_version = hashlib.sha256(handle.read()).hexdigest()
    assert retrained["data"]["data_version"] == combined_version == tags["data_version"]
    assert combined_version != base_version
    assert tags["batch_data_version"] == hashlib.sha256(batch_raw).hexdigest()
    assert (tags["batch_rows"], tags["batch_rows_added"]) == ("35", "25")
    example_rows = len(EXAMPLE_CSV.read_text().splitlines()) - 1
    assert tags["data_rows"] == str(example_rows + 25)
    assert tags["batch_source"] == f"local:{batch_path}"
    # Lineage: the batch is a dataset input of the pipeline run, the candidates trained on the
    # combined version.
    inputs = {dataset_input.dataset.name: {tag.key: tag.value for tag in dataset_input.tags}
              for dataset_input in run.inputs.dataset_inputs}
    assert inputs["retraining_batch"] == {"mlflow.data.context": "retraining_batch",
                                          "data_version": tags["batch_data_version"]}
    candidate = client.get_run(retrained["trained"][0]["run_id"])
    assert {tag.value for dataset_input in candidate.inputs.dataset_inputs
            for tag in dataset_input.tags if tag.key == "data_version"} == {combined_version}
    # The guard's decision, on the pipeline run as on the version.
    decision = retrained["decision"]
    assert tags["registered_version"] == decision["version"] == "2"
    assert tags["registered_alias"] == decision["alias"]
    version = client.get_model_version(f"{experiment}-model", "2")
    assert tags["promotion_decision"] == version.tags["promotion_decision"]
    assert decision["previous_champion_version"] == "1"
