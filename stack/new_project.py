"""`make new-project NAME=...`: copy the project template into a new project the stack picks up."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import sys
from pathlib import Path

from stack.settings import ENV_FILE, REPO_ROOT, SettingsError, load_settings

TEMPLATE_DIR = REPO_ROOT / "project_template"
# The folder the running stack parses for projects besides the template (a second DAG bundle).
DEFAULT_PROJECTS_DIR = REPO_ROOT / "projects"

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

# The template's identity lines and what a new project's copy says instead. Each must occur
# exactly once in config.py; a template edit that breaks that fails loudly here.
_CONFIG_REWRITES = {
    'DAG_ID = "project_template"': 'DAG_ID = "{package}"',
    'EXPERIMENT_NAME = _env("EXPERIMENT_NAME", "diabetes-progression")':
        'EXPERIMENT_NAME = "{name}"',
    'REGISTERED_MODEL_NAME = _env("REGISTERED_MODEL_NAME", "diabetes-progression")':
        'REGISTERED_MODEL_NAME = "{name}"',
    # The IDS edge offers only the template's dataset, so a new project starts from its local copy.
    'DATA_SOURCE = _env("DATA_SOURCE", "ids")': 'DATA_SOURCE = "local"',
}


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


def create_project(name: str, projects_dir: Path = DEFAULT_PROJECTS_DIR,
                   template_dir: Path = TEMPLATE_DIR) -> Path:
    """Copy the template to `projects_dir/<package>` with its own DAG id, experiment and model."""
    package = package_name(name)
    target = projects_dir / package
    if target.exists():
        raise NewProjectError(f"{target} already exists")
    config_text = (template_dir / "config.py").read_text()
    for old in _CONFIG_REWRITES:
        if config_text.count(old) != 1:
            raise NewProjectError(f"the template's config.py no longer has the line {old!r} "
                                  f"exactly once; update stack/new_project.py")
    for old, new in _CONFIG_REWRITES.items():
        config_text = config_text.replace(old, new.format(package=package, name=name))

    projects_dir.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: the dag-processor never sees a half-copied project.
    staging = projects_dir / f".{package}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(template_dir, staging,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    (staging / "config.py").write_text(config_text)
    staging.rename(target)
    return target


def _projects_dir(env_file: Path) -> Path:
    """The running stack's projects bundle: PROJECTS_DIR of `.env`, else ./projects."""
    try:
        return load_settings(env_file).projects_dir
    except SettingsError:
        return DEFAULT_PROJECTS_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="project name, e.g. churn-model (DAG id churn_model)")
    parser.add_argument("--projects-dir", type=Path,
                        help="where projects live (default: PROJECTS_DIR of the settings file)")
    parser.add_argument("--env-file", type=Path, default=ENV_FILE,
                        help="the settings file (default: the repository's .env)")
    args = parser.parse_args(argv)
    try:
        projects_dir = args.projects_dir or _projects_dir(args.env_file)
        target = create_project(args.name, projects_dir)
    except NewProjectError as error:
        print(f"new-project: {error}", file=sys.stderr)
        return 2
    package = target.name
    print(f"Created {target}\n"
          f"  DAG id:           {package}\n"
          f"  MLflow experiment and registered model: {args.name}\n"
          f"  data:             {target / 'Data/example_data/diabetes.csv'} (change DATA_SOURCE in "
          f"config.py, or the DAG param data_source per run)\n"
          f"Edit {target / 'config.py'} and the steps in Data/, Process/, Models/, Deployment/.\n"
          f"The running stack lists the DAG once its dag-processor rescans the folder.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
