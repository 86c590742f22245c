"""Run an Airflow command (`python preimport.py scheduler`) with the tasks' libraries imported.

The LocalExecutor forks its workers from the scheduler, and each worker's supervisor forks the
task process (a bare fork on Linux). What the scheduler imports before its executor starts is
inherited by every task process, copy-on-write: a task then no longer imports MLflow, pandas,
scikit-learn and skops itself, 4-6 CPU-seconds each time. The pages are shared, so the scheduler
pays their memory once. Under Celery the scheduler runs no task: nothing is imported there.

Only installed libraries are imported, never a project's own code: a change to a project's files
still reaches its next task without a restart.
"""

from __future__ import annotations

import logging
import sys
import warnings

# What the template's tasks import (project_template/mlops_platform, Process/, Models/): the
# libraries themselves and the submodules they load lazily while they work. Every task parses its
# DAG file: `@task` and its retraining Asset, which asks each installed provider for its URI
# handler (importing boto3 and botocore: 0.5 CPU-seconds a task).
TASK_MODULES = (
    "airflow.sdk.execution_time.task_runner", "airflow.sdk.definitions.decorators",
    "airflow.providers.standard.decorators.python",
    "airflow.providers.amazon.aws.assets.s3", "airflow.providers.amazon.aws.assets.redshift",
    "airflow.providers.postgres.assets.postgres", "airflow.providers.common.io.assets.file",
    "numpy", "pandas", "pyarrow",
    "sklearn.base", "sklearn.compose", "sklearn.ensemble", "sklearn.impute", "sklearn.linear_model",
    "sklearn.metrics", "sklearn.model_selection", "sklearn.pipeline", "sklearn.preprocessing",
    "mlflow", "mlflow.tracking", "mlflow.entities", "mlflow.models", "mlflow.pyfunc",
    "mlflow.sklearn", "mlflow.data.pandas_dataset", "mlflow.data.http_dataset_source",
    "skops.io", "pandera.pandas", "requests", "psycopg2",
    # Loaded at the first schema check (pandera's checks import hypothesis) and the first MLflow
    # run (GitPython, for the run's source commit).
    "pandera.backends.pandas.register", "git",
)


def runs_tasks(argv: list[str], executor: str) -> bool:
    """Whether the command `airflow <argv>` runs tasks in its own processes."""
    return argv[:1] == ["scheduler"] and executor.split(",")[0].strip() == "LocalExecutor"


def preimport(modules: tuple[str, ...] = TASK_MODULES) -> list[str]:
    """Import `modules`; return those that failed (a task that needs one fails on its own).

    An imported library may configure its own loggers, not the command's: MLflow sets a handler on
    `sqlalchemy.engine`, which would change how the scheduler logs. Such loggers are put back as
    they were. No library here starts a Python thread; numpy's and SciPy's
    OpenBLAS and pyarrow's jemalloc start native ones, which handle a fork themselves.
    """
    before = _loggers()
    # skops looks for SciPy's functions in every loaded module when it is imported, and each of
    # Airflow's deprecated-import shims warns as it is asked: over a thousand lines, for nothing.
    warnings.filterwarnings("ignore", message=r"The `airflow\.", category=FutureWarning)
    quiet = warnings.filters[0]
    failed = []
    for name in modules:
        try:
            __import__(name)
        except Exception as error:  # noqa: BLE001 - an optimisation must not stop the scheduler
            failed.append(f"{name} ({type(error).__name__}: {error})")
    if quiet in warnings.filters:
        warnings.filters.remove(quiet)
        warnings._filters_mutated()  # type: ignore[attr-defined]
    _restore_foreign_loggers(before, {name.split(".")[0] for name in modules})
    return failed


def _loggers() -> dict[str, tuple]:
    manager = logging.Logger.manager
    found = {name: logger for name, logger in manager.loggerDict.items()
             if isinstance(logger, logging.Logger)}
    found[""] = logging.getLogger()
    return {name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
            for name, logger in found.items()}


def _restore_foreign_loggers(before: dict[str, tuple], packages: set[str]) -> None:
    for name, state in _loggers().items():
        if name.split(".")[0] in packages or before.get(name, state) == state:
            continue  # its package's own, new, or as it was
        logger = logging.getLogger(name or None)
        level, logger.handlers, logger.propagate, logger.disabled = before[name]
        logger.setLevel(level)  # also clears the loggers' cached levels


def main() -> None:
    # The script's folder is not a place to import from: run as if started by `airflow` itself.
    sys.path.pop(0)
    sys.argv[0] = "airflow"
    from airflow.__main__ import main as airflow_main
    from airflow.configuration import conf

    if runs_tasks(sys.argv[1:], conf.get("core", "executor")):
        failed = preimport()
        if failed:
            print(f"preimport: not imported: {'; '.join(failed)}", file=sys.stderr)
    airflow_main()


if __name__ == "__main__":
    main()
