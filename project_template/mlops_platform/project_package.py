"""How a DAG file loads its project: the folder as a package named after it, and its modules.

A DAG file loads this file by its path (it cannot import the package before the package is
imported), then calls `import_project`; everything else it reaches through `project_module`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from pathlib import Path
from types import ModuleType


def import_project(project_dir: Path) -> ModuleType:
    """Import the project folder as a package named after the folder.

    Every project has `Data/`, `Process/`, ... folders. Imported as top-level names they would
    shadow each other in any process that loads two projects (the dag-processor, a DagBag, a
    test); as `<project>.Data` they cannot. This works wherever the DAG folder is, without
    relying on what Airflow puts on sys.path.
    """
    name = project_dir.name
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(loaded.__file__ or "").resolve().parent != project_dir.resolve():
            raise ImportError(f"two projects named {name!r}: {loaded.__file__} and {project_dir}")
        return loaded
    spec = importlib.util.spec_from_file_location(
        name, project_dir / "__init__.py", submodule_search_locations=[str(project_dir)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    spec.loader.exec_module(package)
    return package


def project_module(project: str, name: str) -> ModuleType:
    """A module of `project` (`Models.candidates`, `mlops_platform.training`). Tasks import
    them when they run, so parsing stays light."""
    # skops, which saves and loads the models, looks for scipy's functions in every loaded module
    # when it is first imported. In a task process that touches each of Airflow's deprecated-import
    # shims, and each one warns: over a thousand log lines and seconds per task, for nothing. Only
    # tasks call this, so the filter stays out of DAG parsing.
    warnings.filterwarnings("ignore", message=r"The `airflow\.", category=FutureWarning)
    module = importlib.import_module(f"{project}.{name}")
    import mlflow

    mlflow.set_tracking_uri(importlib.import_module(f"{project}.config").MLFLOW_TRACKING_URI)
    return module


def fail_without_retry(error: Exception) -> Exception:
    """Bad input does not get better by retrying: fail the task at once, with the reason."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(f"{type(error).__name__}: {error}")
