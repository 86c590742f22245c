"""The template's DAG loads, carries docs, tags and retries, and wires the expected task graph."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from conftest import TEMPLATE_DIR

EXPECTED_UPSTREAM = {
    "read_data": set(),
    "data_processing": {"read_data"},
    "candidate_models": set(),
    "model_training": {"read_data", "data_processing", "candidate_models"},
    "select_best_model": {"model_training"},
    "register_and_promote": {"select_best_model", "data_processing"},
    "deploy": {"register_and_promote"},
    "register_experiment": {"deploy"},
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(TEMPLATE_DIR), safe_mode=True)


def test_the_folder_yields_one_dag_and_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert list(dagbag.dags) == ["project_template"]
    # .airflowignore keeps the package modules out of DAG parsing: only the DAG file is parsed.
    assert [stat.file for stat in dagbag.dagbag_stats] == ["DAG/dag_template.py"]


def test_every_module_of_the_template_imports():
    modules = sorted(
        ".".join(path.relative_to(TEMPLATE_DIR.parent).with_suffix("").parts)
        for path in TEMPLATE_DIR.rglob("*.py")
        if path.stem != "__init__"
    )
    assert "project_template.DAG.dag_template" in modules
    for module in modules:
        importlib.import_module(module)


def test_dag_has_docs_tags_retries_and_one_active_run(dagbag):
    dag = dagbag.dags["project_template"]
    assert dag.doc_md and "register_and_promote" in dag.doc_md
    assert "mlops" in dag.tags
    assert dag.max_active_runs == 1
    assert dag.schedule is None or str(dag.timetable.summary) in {"None", "Never, external triggers only"}
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_delay >= timedelta(seconds=10), task.task_id
        assert task.retry_exponential_backoff >= 2, task.task_id


def test_task_graph_is_the_lifecycle(dagbag):
    dag = dagbag.dags["project_template"]
    assert {task.task_id: set(task.upstream_task_ids) for task in dag.tasks} == EXPECTED_UPSTREAM
    training = dag.get_task("model_training")
    assert training.is_mapped
    # One mapped instance per candidate; data and splits are the same for all of them.
    assert [task.task_id for task in training.iter_mapped_dependencies()] == ["candidate_models"]
    assert set(training.op_kwargs_expand_input.value) == {"candidate"}
    assert set(training.partial_kwargs["op_kwargs"]) == {"data", "splits"}
    assert training.max_active_tis_per_dagrun == 3


def test_params_form_offers_source_candidates_and_metric(dagbag):
    params = dagbag.dags["project_template"].params
    assert set(params.keys()) == {"data_source", "data_location", "candidate_models",
                                  "metric_bm", "metric_bm_type"}
    from project_template import config

    assert params["candidate_models"] == list(config.CANDIDATE_MODELS)
    assert len(params["candidate_models"]) >= 3
    assert params.get_param("data_source").schema["enum"] == ["ids", "local", "s3"]
    assert params.get_param("metric_bm_type").schema["enum"] == ["max", "min"]
