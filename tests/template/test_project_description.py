"""A project is its description plus plain step code: project.toml is checked, and the step code a
user edits (Data/, Process/, Models/) never touches MLflow."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from conftest import REPO_ROOT, TEMPLATE_DIR

from project_template.mlops_platform.description import DescriptionError, parse_description

USER_FOLDERS = ("Data", "Process", "Models")


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_the_step_code_a_user_edits_imports_no_mlflow(project_dir):
    files = [path for folder in USER_FOLDERS for path in (project_dir / folder).rglob("*.py")]
    assert len(files) >= 6
    offenders = {str(path.relative_to(project_dir)): sorted(
                     module for module in _imported_modules(path)
                     if module == "mlflow" or module.startswith(("mlflow.", "skops")))
                 for path in files}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_static_check_sees_an_mlflow_import(tmp_path):
    sneaky = tmp_path / "x.py"
    sneaky.write_text("def f():\n    from mlflow.tracking import MlflowClient\n")
    assert "mlflow.tracking" in _imported_modules(sneaky)


def test_the_stack_settings_name_the_templates_identity():
    # The stack seeds the IDS edge and serves /invocations with these; they must be the template's.
    description = tomllib.loads((TEMPLATE_DIR / "project.toml").read_text())
    example = dict(line.split("=", 1) for line in (REPO_ROOT / ".env.example").read_text()
                   .splitlines() if "=" in line and not line.startswith("#"))
    assert example["EXPERIMENT_NAME"] == description["project"]["name"]
    assert example["REGISTERED_MODEL_NAME"] == description["project"]["name"]
    assert description["data"]["ids_title"] == description["project"]["name"]


def _template() -> dict:
    return tomllib.loads((TEMPLATE_DIR / "project.toml").read_text())


@pytest.mark.parametrize("change, message", [
    (lambda d: d["project"].update(task="clustering"),
     "project.task: 'clustering': use one of regression, classification"),
    (lambda d: d["project"].update(metric="accuracy"),
     "project.metric: 'accuracy': use one of r2, rmse, mae"),
    (lambda d: d["schema"]["features"]["age"].update(type="float"),
     "schema.features.age.type: 'float': use one of numeric, categorical, boolean"),
    (lambda d: d["schema"]["features"]["sex"].update(categories=["1", "2"]),
     "schema.features.sex.categories: only categorical columns have categories"),
    (lambda d: d["schema"]["target"].update(type="categorical", min=None) or
     d["schema"]["target"].pop("min"),
     "schema.target.type: a regression target must be numeric"),
    (lambda d: d["data"].update(colour="red"), r"\[data\] unknown key\(s\): colour"),
    (lambda d: d["schema"]["target"].update(positive_class="high"),
     "schema.target.positive_class: 'high' is not one of the target's classes"),
    (lambda d: d["data"].update(min_rows="many"), "data.min_rows: 'many' is not a int"),
    (lambda d: d.pop("candidates"), "candidates: missing"),
    (lambda d: d["monitoring"].update(drift_share_threshold=1.5),
     r"monitoring.drift_share_threshold: 1.5: must be in \(0, 1\]"),
    (lambda d: d["monitoring"].update(window_hours=0), "monitoring.window_hours: 0.0: must be more"),
    (lambda d: d["monitoring"].update(schedule=" "), "monitoring.schedule: empty: give a cron"),
    (lambda d: d["monitoring"].update(enabled="yes"), "monitoring.enabled: 'yes' is not a bool"),
    (lambda d: d["monitoring"].update(every="hour"), r"\[monitoring\] unknown key\(s\): every"),
])
def test_a_malformed_description_names_the_key_and_what_is_allowed(change, message):
    document = _template()
    change(document)
    with pytest.raises(DescriptionError, match=message):
        parse_description(document)


def test_the_template_description_reads_as_typed_data():
    description = parse_description(_template())
    assert description.task == "regression" and description.metric == "r2"
    assert description.schema.target.name == "disease_progression"
    assert description.schema.features_of_type("numeric") == description.schema.feature_names
    assert description.candidates["elastic_net"]["params"]["alpha"] == 0.05


def test_monitoring_settings_default_when_the_table_is_missing():
    document = _template()
    stated = parse_description(document).monitoring
    document.pop("monitoring")
    default = parse_description(document).monitoring
    # The template states the defaults, so a project without the table behaves the same.
    assert stated == default
    assert (default.schedule, default.drift_share_threshold, default.enabled) == ("@hourly", 0.5,
                                                                                   True)
