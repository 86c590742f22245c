"""`make new-project`: new projects get their own identity, and two projects never shadow each other."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest
from conftest import TEMPLATE_DIR

from stack.new_project import NewProjectError, create_project, main, package_name


def test_a_classification_project_gets_the_wine_example_with_a_categorical_column(tmp_path):
    offered = []
    target = create_project("vino", tmp_path, task="classification",
                            offer=lambda path, title: offered.append((path.name, title)) or True)
    description = tomllib.loads((target / "project.toml").read_text())
    assert description["project"]["task"] == "classification"
    assert description["project"]["metric"] == "f1_macro"
    # The dataset was offered on the IDS edge under the project's name, and is read from there.
    assert offered == [("wine.csv", "vino")]
    assert description["data"]["source"] == "ids" and description["data"]["ids_title"] == "vino"
    assert description["schema"]["features"]["alcohol_level"] == {
        "type": "categorical", "categories": ["low", "medium", "high"]}
    assert description["schema"]["target"]["type"] == "categorical"
    header = (target / "Data/example_data/wine.csv").read_text().splitlines()[0].split(";")
    assert header == [*description["schema"]["features"], description["schema"]["target"]["name"]]
    assert not (target / "Data/example_data/diabetes.csv").exists()


def test_an_unknown_task_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["x-model", "--task", "clustering", "--projects-dir", str(tmp_path)])
    assert "invalid choice: 'clustering'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("projects")
    create_project("alpha-model", folder)
    create_project("beta_model", folder)
    return folder


def test_a_dagbag_over_two_projects_loads_both(projects):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(projects), safe_mode=True)
    assert bag.import_errors == {}
    assert sorted(bag.dags) == ["alpha_model", "alpha_model_monitoring", "beta_model",
                                "beta_model_monitoring"]
    assert sorted(stat.file for stat in bag.dagbag_stats) == [
        "alpha_model/DAG/dag_monitoring.py", "alpha_model/DAG/dag_template.py",
        "beta_model/DAG/dag_monitoring.py", "beta_model/DAG/dag_template.py"]
    assert "alpha-model" in bag.dags["alpha_model"].tags
    assert bag.dags["beta_model"].params["data_source"] == "local"
    # Each project's monitoring DAG asks for its own project's retraining.
    for name, experiment in (("alpha_model", "alpha-model"), ("beta_model", "beta_model")):
        [asset] = bag.dags[f"{name}_monitoring"].get_task("request_retraining").outlets
        assert asset.name == f"{experiment}-retraining"


def test_steps_of_both_projects_load_side_by_side_in_one_process(projects):
    from airflow.dag_processing.dagbag import DagBag

    DagBag(dag_folder=str(projects), safe_mode=True)  # registers both packages, as Airflow does
    alpha = importlib.import_module("alpha_model.Data.read_data")
    beta = importlib.import_module("beta_model.Data.read_data")
    template = importlib.import_module("project_template.Data.read_data")
    assert Path(alpha.__file__).is_relative_to(projects / "alpha_model")
    assert Path(beta.__file__).is_relative_to(projects / "beta_model")
    assert Path(template.__file__).is_relative_to(TEMPLATE_DIR)
    assert alpha.config.EXPERIMENT_NAME == "alpha-model"
    assert beta.config.REGISTERED_MODEL_NAME == "beta_model"
    # Each step reads its own project's data, not the first one imported.
    assert alpha.fetch_raw_data(alpha.resolve_data_source()) == (
        projects / "alpha_model/Data/example_data/diabetes.csv").read_bytes()
    assert alpha.config.PROJECT_DIR != beta.config.PROJECT_DIR


def test_two_projects_with_the_same_name_are_refused_not_mixed(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    create_project("gamma", tmp_path / "one")
    create_project("gamma", tmp_path / "two")
    bag = DagBag(dag_folder=str(tmp_path), safe_mode=True)
    # The first one found loads (its lifecycle and monitoring DAGs); both DAG files of the
    # second fail, naming the clash.
    assert len(bag.dags) == 2
    assert len(bag.import_errors) == 2
    for error in bag.import_errors.values():
        assert "two projects named 'gamma'" in error


def test_new_project_writes_its_identity_as_its_description(tmp_path):
    target = create_project("churn-model", tmp_path)
    assert target == tmp_path / "churn_model"
    # config.py is the template's, unchanged: the identity is data in project.toml.
    assert (target / "config.py").read_bytes() == (TEMPLATE_DIR / "config.py").read_bytes()
    description = tomllib.loads((target / "project.toml").read_text())
    template = tomllib.loads((TEMPLATE_DIR / "project.toml").read_text())
    assert description["project"] == {**template["project"], "name": "churn-model",
                                      "dag_id": "churn_model"}
    assert description["data"] == {**template["data"], "source": "local",
                                   "ids_title": "churn-model"}
    assert {key: description[key] for key in ("schema", "candidates", "split")} == {
        key: template[key] for key in ("schema", "candidates", "split")}
    assert not list(target.rglob("__pycache__"))
    assert (target / ".airflowignore").is_file()
    assert (target / "Data/example_data/diabetes.csv").read_bytes() == (
        TEMPLATE_DIR / "Data/example_data/diabetes.csv").read_bytes()
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("name, reason", [
    ("Churn", "lowercase"), ("9lives", "lowercase"), ("a--b", "lowercase"), ("", "lowercase"),
    ("json", "importable"), ("mlflow", "importable"), ("project_template", "template"),
])
def test_bad_names_are_refused(name, reason):
    with pytest.raises(NewProjectError, match=reason):
        package_name(name)


def test_cli_creates_and_refuses_an_existing_project(tmp_path, capsys):
    assert main(["delta", "--projects-dir", str(tmp_path), "--no-ids-offer"]) == 0
    assert "DAG id:           delta" in capsys.readouterr().out
    assert main(["delta", "--projects-dir", str(tmp_path), "--no-ids-offer"]) == 2
    assert "already exists" in capsys.readouterr().err
