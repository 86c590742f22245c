"""Every project's DAGs (the regression template's, the classification example's: the lifecycle
and the monitoring DAG) load, carry docs, tags and retries, and wire the same task graphs."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest

EXPECTED_UPSTREAM = {
    "read_data": set(),
    "data_processing": {"read_data"},
    "candidate_models": set(),
    "model_training": {"read_data", "data_processing", "candidate_models"},
    "select_best_model": {"model_training"},
    "register_and_promote": {"select_best_model", "read_data", "data_processing"},
    "deploy": {"register_and_promote"},
    "register_experiment": {"deploy"},
}


_DAGBAGS: dict = {}


@pytest.fixture
def dagbag(project_dir):
    from airflow.dag_processing.dagbag import DagBag

    if project_dir not in _DAGBAGS:
        _DAGBAGS[project_dir] = DagBag(dag_folder=str(project_dir), safe_mode=True)
    return _DAGBAGS[project_dir]


@pytest.fixture
def config(project_dir):
    return importlib.import_module(f"{project_dir.name}.config")


@pytest.fixture
def dag(dagbag, config):
    return dagbag.dags[config.DAG_ID]


@pytest.fixture
def monitoring_dag(dagbag, config):
    return dagbag.dags[config.MONITORING_DAG_ID]


def test_the_folder_yields_its_two_dags_and_no_import_errors(dagbag, project_dir):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == [project_dir.name, f"{project_dir.name}_monitoring"]
    # .airflowignore keeps the package modules out of DAG parsing: only the DAG files are parsed.
    assert sorted(stat.file for stat in dagbag.dagbag_stats) == ["DAG/dag_monitoring.py",
                                                                 "DAG/dag_template.py"]


def test_every_module_of_the_project_imports(project_dir):
    modules = sorted(
        ".".join(path.relative_to(project_dir.parent).with_suffix("").parts)
        for path in project_dir.rglob("*.py")
        if path.stem != "__init__"
    )
    assert {f"{project_dir.name}.DAG.dag_template",
            f"{project_dir.name}.DAG.dag_monitoring"} <= set(modules)
    for module in modules:
        importlib.import_module(module)


def test_dag_has_docs_tags_retries_and_one_active_run(dag, config):
    assert dag.doc_md and "register_and_promote" in dag.doc_md
    assert {"mlops", config.TASK, config.EXPERIMENT_NAME} <= set(dag.tags)
    assert dag.max_active_runs == 1

def test_dag_is_scheduled_on_the_projects_retraining_asset_only(dag, config):
    from airflow.sdk import Asset

    # Exactly the asset the monitoring DAG updates: nothing time-based, and manual triggers work
    # for any schedule.
    assert list(dag.timetable.asset_condition.objects) == [
        Asset(name=config.RETRAINING_ASSET_NAME, uri=config.RETRAINING_ASSET_URI)]
    assert type(dag.timetable).__name__ == "AssetTriggeredTimetable"
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_delay >= timedelta(seconds=10), task.task_id
        assert task.retry_exponential_backoff >= 2, task.task_id


def test_task_graph_is_the_lifecycle(dag):
    assert {task.task_id: set(task.upstream_task_ids) for task in dag.tasks} == EXPECTED_UPSTREAM
    training = dag.get_task("model_training")
    assert training.is_mapped
    # One mapped instance per candidate; data and splits are the same for all of them.
    assert [task.task_id for task in training.iter_mapped_dependencies()] == ["candidate_models"]
    assert set(training.op_kwargs_expand_input.value) == {"candidate"}
    assert set(training.partial_kwargs["op_kwargs"]) == {"data", "splits"}
    assert training.max_active_tis_per_dagrun == 3


METRICS = {"regression": ["r2_validation", "rmse_validation", "mae_validation"],
           "classification": ["accuracy_validation", "f1_macro_validation",
                              "roc_auc_validation", "log_loss_validation"]}


def test_params_form_offers_source_candidates_and_only_the_tasks_metrics(dag, config):
    params = dag.params
    assert set(params.keys()) == {"data_source", "data_location", "candidate_models", "metric_bm"}
    assert params["candidate_models"] == list(config.CANDIDATE_MODELS)
    assert len(params["candidate_models"]) >= 2
    assert params.get_param("data_source").schema["enum"] == ["ids", "local", "s3"]
    assert params.get_param("metric_bm").schema["enum"] == METRICS[config.TASK]
    assert params["metric_bm"] == config.METRIC_BM


def test_monitoring_dag_is_scheduled_from_the_settings_with_docs_tags_and_retries(monitoring_dag,
                                                                                   config):
    assert monitoring_dag.doc_md and "nothing to compare yet" in monitoring_dag.doc_md
    assert {"mlops", "monitoring", config.EXPERIMENT_NAME} <= set(monitoring_dag.tags)
    assert monitoring_dag.max_active_runs == 1
    assert config.MONITORING.enabled
    assert monitoring_dag.schedule == config.MONITORING.schedule == "@hourly"
    assert monitoring_dag.timetable.expression == "0 * * * *"
    for task in monitoring_dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff >= 2, task.task_id
    assert set(monitoring_dag.params.keys()) == {"window_hours", "since"}
    assert monitoring_dag.params["window_hours"] == config.MONITORING.window_hours
    assert monitoring_dag.params["since"] == ""


def test_only_the_last_monitoring_task_updates_the_projects_retraining_asset(monitoring_dag,
                                                                             config):
    from airflow.sdk import Asset

    assert {task.task_id: set(task.upstream_task_ids) for task in monitoring_dag.tasks} == {
        "check": set(), "request_retraining": {"check"}}
    assert monitoring_dag.get_task("check").outlets == []
    assert monitoring_dag.get_task("request_retraining").outlets == [
        Asset(name=config.RETRAINING_ASSET_NAME, uri=config.RETRAINING_ASSET_URI)]
