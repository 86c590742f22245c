"""`make new-project NAME=... [TASK=classification]`: a new project from the template.

The template is copied into the projects folder; the copy's identity (DAG id, experiment and
registered model, task, data source, schema, metric, candidates) is written as its `project.toml`,
checked by the same parser the project's config.py uses. With a running stack, the project's
dataset is offered on the IDS edge under the project's name and the project reads it from there.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from stack.settings import ENV_FILE, REPO_ROOT, Settings, SettingsError, load_settings

TEMPLATE_DIR = REPO_ROOT / "project_template"
# The folder the running stack parses for projects besides the template (a second DAG bundle).
DEFAULT_PROJECTS_DIR = REPO_ROOT / "projects"
TASKS = ("regression", "classification")

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class NewProjectError(ValueError):
    """The project cannot be created; the message says why and what to do."""


def package_name(name: str) -> str:
    """The Python package (and DAG id) of project `name`: `churn-model` -> `churn_model`."""
    if not _NAME.match(name) or len(name) > 50:
        raise NewProjectError(
            f"project name {name!r}: use 2-50 lowercase letters and digits, separated by single "
            f"- or _, starting with a letter (e.g. churn-model)")
    package = name.replace("-", "_")
    if package == TEMPLATE_DIR.name:
        raise NewProjectError(f"{name!r} is the template's own name; choose another")
    # A package named like an installed module (json, mlflow, ...) would shadow it in Airflow.
    if importlib.util.find_spec(package) is not None:
        raise NewProjectError(f"{package!r} is already an importable Python module; choose a "
                              f"name that shadows nothing")
    return package


# -- the description ----------------------------------------------------------------------------


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_value(key)


def render_toml(document: dict, header: str = "") -> str:
    """`document` as TOML: tables two levels deep as sections (`[schema.features]`), deeper
    ones inline (`age = { type = "numeric" }`)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]

    def table(path: list[str], values: dict) -> None:
        def section(value) -> bool:
            return isinstance(value, dict) and len(path) < 2

        scalars = {k: v for k, v in values.items() if not section(v)}
        if scalars or not values:
            lines.extend(["", f"[{'.'.join(_toml_key(p) for p in path)}]"])
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items())
        for key, value in values.items():
            if section(value):
                table([*path, key], value)

    for key, value in document.items():
        table([key], value)
    return "\n".join(lines).lstrip("\n") + "\n"


def template_description() -> dict:
    return tomllib.loads((TEMPLATE_DIR / "project.toml").read_text(encoding="utf-8"))


def classification_description() -> dict:
    """The wine example: three cultivars, alcohol as a category (Data/example_dataset.py)."""
    from project_template.Data.example_dataset import ALCOHOL_LEVELS, WINE_TARGET, wine_frame

    frame = wine_frame()
    features = {column: {"type": "numeric", "min": 0} for column in frame.columns
                if column not in (WINE_TARGET, "alcohol_level")}
    return {
        "project": {"task": "classification", "metric": "f1_macro"},
        "data": {"local_path": "Data/example_data/wine.csv", "delimiter": ";",
                 "encoding": "utf-8", "min_rows": 50},
        "split": template_description()["split"],
        "monitoring": template_description()["monitoring"],
        "schema": {
            "target": {"name": WINE_TARGET, "type": "categorical",
                       "categories": sorted(frame[WINE_TARGET].unique())},
            "features": {"alcohol_level": {"type": "categorical",
                                           "categories": list(ALCOHOL_LEVELS)}, **features},
        },
        "candidates": {
            "logistic_regression": {"estimator": "sklearn.linear_model.LogisticRegression",
                                    "params": {"C": 1.0, "max_iter": 2000}},
            "random_forest": {"estimator": "sklearn.ensemble.RandomForestClassifier",
                              "params": {"n_estimators": 100, "max_depth": 5, "random_state": 42,
                                         "n_jobs": 1}},
        },
    }


def example_data(task: str) -> tuple[str, str]:
    """The example dataset a new project of `task` starts from: (file name, CSV text)."""
    from project_template.Data.example_dataset import example_dataset_csv, wine_dataset_csv

    return ("wine.csv", wine_dataset_csv()) if task == "classification" else (
        "diabetes.csv", example_dataset_csv())


def describe_project(name: str, task: str, data_source: str) -> dict:
    """The project.toml document of a new project `name` of `task`."""
    if task not in TASKS:
        raise NewProjectError(f"TASK={task!r}: use one of {', '.join(TASKS)}")
    document = template_description() if task == "regression" else classification_description()
    document["project"] = {"name": name, "dag_id": package_name(name), **{
        k: v for k, v in document["project"].items() if k not in ("name", "dag_id")}}
    document["data"] = {**document["data"], "source": data_source, "ids_title": name,
                        "s3_uri": ""}
    # The same checks the project's config.py makes when Airflow imports it.
    from project_template.mlops_platform.description import DescriptionError, parse_description

    try:
        parse_description(document, Path(name) / "project.toml")
    except DescriptionError as error:
        raise NewProjectError(f"the new description is not valid: {error}") from error
    return document


# -- the project folder -------------------------------------------------------------------------


def create_project(name: str, projects_dir: Path = DEFAULT_PROJECTS_DIR,
                   template_dir: Path = TEMPLATE_DIR, task: str = "regression",
                   offer=None) -> Path:
    """Copy the template to `projects_dir/<package>` with its own project.toml and example data.

    `offer(path, title) -> bool` offers the dataset on the IDS edge; when it does, the project
    reads its data from there, else from its local copy.
    """
    package = package_name(name)
    target = projects_dir / package
    if target.exists():
        raise NewProjectError(f"{target} already exists")
    projects_dir.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: the dag-processor never sees a half-copied project.
    staging = projects_dir / f".{package}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(template_dir, staging,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    try:
        data_folder = staging / "Data" / "example_data"
        shutil.rmtree(data_folder)
        data_folder.mkdir()
        file_name, text = example_data(task)
        data_file = data_folder / file_name
        data_file.write_text(text, encoding="utf-8")
        source = "ids" if offer is not None and offer(data_file, name) else "local"
        header = (f"Project {name}: written by `make new-project`; yours to edit. Each key is "
                  f"explained in\nthe template's project.toml "
                  f"(project_template/project.toml).")
        (staging / "project.toml").write_text(
            render_toml(describe_project(name, task, source), header), encoding="utf-8")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(target)
    return target


def ids_offer(settings: Settings):
    """An `offer(path, title)` that offers a file on the stack's IDS edge, as `make ids-offer`."""
    def offer(path: Path, title: str) -> bool:
        env = {key: value for key, value in os.environ.items()
               if key in {"PATH", "HOME", "LANG", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"}}
        env.update({k: v for k, v in settings.values.items() if k.startswith("IDS_")})
        env["PYTHONPATH"] = str(REPO_ROOT / "ids-mock")
        result = subprocess.run(
            [sys.executable, "-m", "ids_mock", "offer", "--file", str(path), "--title", title,
             "--api-url", settings.url("IDS_EDGE_API_PORT", scheme="https")],
            env=env, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            print(f"new-project: the IDS edge did not take the dataset ({result.stderr.strip()}); "
                  f"the project reads its local copy", file=sys.stderr)
        return result.returncode == 0
    return offer


def _settings(env_file: Path) -> Settings | None:
    try:
        return load_settings(env_file)
    except SettingsError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="project name, e.g. churn-model (DAG id churn_model)")
    parser.add_argument("--task", default="regression", choices=TASKS,
                        help="regression (the diabetes example) or classification (wine)")
    parser.add_argument("--projects-dir", type=Path,
                        help="where projects live (default: PROJECTS_DIR of the settings file)")
    parser.add_argument("--env-file", type=Path, default=ENV_FILE,
                        help="the settings file (default: the repository's .env)")
    parser.add_argument("--no-ids-offer", action="store_true",
                        help="do not offer the dataset on the IDS edge; read the local copy")
    args = parser.parse_args(argv)
    settings = _settings(args.env_file)
    try:
        projects_dir = args.projects_dir or (settings.projects_dir if settings
                                             else DEFAULT_PROJECTS_DIR)
        offer = None if args.no_ids_offer or settings is None else ids_offer(settings)
        target = create_project(args.name, projects_dir, task=args.task, offer=offer)
    except NewProjectError as error:
        print(f"new-project: {error}", file=sys.stderr)
        return 2
    description = tomllib.loads((target / "project.toml").read_text())
    data = description["data"]
    print(f"Created {target} ({args.task})\n"
          f"  DAG id:           {target.name}\n"
          f"  MLflow experiment and registered model: {args.name}\n"
          f"  data:             {data['source']} "
          f"({'IDS resource ' + repr(args.name) if data['source'] == 'ids' else data['local_path']})\n"
          f"  served at:        POST /models/{args.name}/invocations on the model server\n"
          f"Edit {target / 'project.toml'} (schema, metric, candidates, data source) and the steps "
          f"in Data/, Process/, Models/.\n"
          f"The running stack lists the DAG once its dag-processor rescans the folder.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
