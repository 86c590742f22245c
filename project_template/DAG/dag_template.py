"""
# MLOps lifecycle

Reads the project's dataset, trains every candidate model, and promotes the best one to the
registry's `champion` alias only when it beats the current champion on held-out data.

**When it runs**: whenever the monitoring DAG (`dag_monitoring.py`) updates this project's
retraining asset (drift in the served inputs, or the champion's metric dropping on a newer labeled
batch), and whenever you trigger it by hand. A run started by the asset records the event on its
pipeline run in MLflow (`retraining.*` tags: the monitoring DAG run, the reason, the drift share,
the drifted columns, the monitoring run id). read_data reads the project's source as it is now
(a newer IDS artifact, if it offers one); when the event names a labeled batch elsewhere
(`data_location`), it appends that batch: the combined data gets a new `data_version`, and the
batch is a dataset input with its own.

1. **read_data**: fetch the dataset (IDS, a local file or S3), plus the event's labeled batch if
   any, check it against the project's schema, keep an immutable copy as an MLflow artifact of
   this run's pipeline run.
2. **data_processing**: seeded train/validation/test split, each part stored as its own copy.
3. **candidate_models**: the candidates this run trains (param `candidate_models`).
4. **model_training**: one mapped task per candidate; logs params, metrics, the model and its
   training data to MLflow.
5. **select_best_model**: the best candidate by `metric_bm` (each metric knows which way is better).
6. **register_and_promote**: registers it; it becomes `champion` only if strictly better than
   the current champion on the test split, else `challenger`. Both scores are version tags; the
   decision is also a tag of the pipeline run.
7. **deploy**: the model server serves the champion at `/models/<registered model>/invocations`.
8. **register_experiment**: offers the experiment in the IDS cloud catalog.

Only one run is active at a time (`max_active_runs=1`). Promotions of one model from other runs
(two projects sharing a model name, `dag.test()` beside the scheduler) can still meet: each decides
under the model's promotion lock, so the second compares against the first's result.
Bad data fails `read_data` at once (no retries), naming the problem; the champion is untouched.

A retry never acts twice: `read_data` and `model_training` reuse the MLflow run an earlier try of
the same DAG run finished (found by its tags; an unfinished one is deleted), and
`register_and_promote` the version it registered (found by `source_run_id`), with its decision.

*Test only*: a run's conf `{"test_fail_after_side_effect": ["read_data", ...]}` fails the first
try of the named tasks right after their side effect, so tests can watch the retry; a run without
that key is unaffected.
"""

from __future__ import annotations

import importlib
import importlib.util
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pendulum
from airflow.sdk import Param, dag, get_current_context, task


def _project_package() -> ModuleType:
    # The package cannot be imported before it is imported: load its loader by path.
    path = Path(__file__).absolute().parent.parent / "mlops_platform" / "project_package.py"
    spec = importlib.util.spec_from_file_location(f"_{path.parent.parent.name}_loader", path)
    loader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loader)
    return loader


PROJECT = _project_package().import_project(Path(__file__).absolute().parent.parent).__name__
config = importlib.import_module(f"{PROJECT}.config")
metrics = importlib.import_module(f"{PROJECT}.mlops_platform.metrics")
package = importlib.import_module(f"{PROJECT}.mlops_platform.project_package")
fail_without_retry = package.fail_without_retry
retraining = importlib.import_module(f"{PROJECT}.mlops_platform.retraining")
RETRAINING_ASSET = retraining.retraining_asset()


def project_module(name: str) -> ModuleType:
    """A module of this project (`Models.candidates`, `mlops_platform.training`), imported when a
    task runs."""
    return package.project_module(PROJECT, name)


# The run-conf key of the test-only fault (see the docstring): tests only, never set by the platform.
TEST_FAULT = "test_fail_after_side_effect"


def after_side_effect(result: object) -> object:
    """`result`, unless this run's conf asks its first try to fail here (tests of retries only)."""
    context = get_current_context()
    ti = context["ti"]
    if ti.task_id in (context["dag_run"].conf or {}).get(TEST_FAULT, ()) and ti.try_number == 1:
        raise RuntimeError(f"{TEST_FAULT}: first try of {ti.task_id} fails after its side effect")
    return result


@dag(
    dag_id=config.DAG_ID,
    description=f"MLOps lifecycle of {config.EXPERIMENT_NAME} ({config.TASK}): data to a served "
                f"champion",
    doc_md=__doc__,
    # Runs when the monitoring DAG updates the asset; manual triggers work as with no schedule.
    schedule=[RETRAINING_ASSET],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["mlops", "mlflow", "ids", config.TASK, config.EXPERIMENT_NAME],
    default_args={
        "retries": config.TASK_RETRIES,
        "retry_delay": timedelta(seconds=config.TASK_RETRY_DELAY_SECONDS),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=5),
    },
    params={
        "data_source": Param(
            config.DATA_SOURCE, type="string", enum=["ids", "local", "s3"], title="Data source",
            description="Where read_data fetches the dataset."),
        "data_location": Param(
            "", type="string", title="Data location",
            description="IDS resource title, file path or s3://bucket/key. Empty: the project's "
                        "default for the chosen source (project.toml)."),
        "candidate_models": Param(
            list(config.CANDIDATE_MODELS), type="array", title="Candidate models",
            items={"type": "string", "enum": list(config.CANDIDATE_MODELS)},
            examples=list(config.CANDIDATE_MODELS), minItems=1,
            description="The models to train, one mapped model_training task each."),
        "metric_bm": Param(
            config.METRIC_BM, type="string", title="Selection metric",
            enum=metrics.selectable_metrics(config.TASK),
            description=f"Validation metric ({config.TASK}) that picks the best candidate; "
                        f"promotion compares the same measure on the test split. Each knows "
                        f"whether bigger is better."),
    },
)
def mlops_lifecycle():
    @task
    def read_data() -> dict:
        sources = project_module("Data.read_data")
        steps = project_module("mlops_platform.ingest")
        schema = project_module("mlops_platform.schema")
        triggers = project_module("mlops_platform.retraining_trigger")
        ids = project_module("IDS_templates.ids_errors")
        refused = (ids.IDSAuthenticationError, ids.IDSLockedOut, ids.IDSResourceNotFound)
        context = get_current_context()
        params = context["params"]
        trigger = triggers.retraining_trigger(
            context.get("triggering_asset_events", {}).get(RETRAINING_ASSET, []))
        try:
            source = sources.resolve_data_source(params["data_source"], params["data_location"])
            batch = None
            if trigger is not None and trigger.batch_location:
                batch = sources.resolve_data_source(
                    trigger.batch_source_kind or source.kind, trigger.batch_location)
                # The source's own newer artifact is what `source` reads now: nothing to append.
                batch = None if batch == source else batch
            data = steps.read_data(source, config.EXPERIMENT_NAME, context["run_id"],
                                 triggers.run_tags(context["dag_run"].run_type, trigger), batch)
        except schema.DataValidationError as error:
            raise fail_without_retry(error) from error
        except sources.DataSourceError as error:
            # A refused login or an unknown title is the same on the next try, and each retry
            # with a wrong login brings the connector's lock-out closer. The rest may pass.
            if isinstance(error.__cause__, refused):
                raise fail_without_retry(error) from error
            raise
        return after_side_effect(data)

    @task
    def data_processing(data: dict) -> dict[str, str]:
        steps = project_module("mlops_platform.splitting")
        return steps.data_processing(data["data_uri"], data["pipeline_run_id"])

    @task
    def candidate_models() -> list[dict]:
        candidates = project_module("Models.candidates")
        try:
            return candidates.resolve_candidates(get_current_context()["params"]["candidate_models"])
        except candidates.CandidateError as error:
            raise fail_without_retry(error) from error

    # At most three candidates train at once: the example's three together took 17 s on two cores,
    # against 25 s two at a time (a task is mostly imports and calls to MLflow, not fitting).
    @task(max_active_tis_per_dagrun=3)
    def model_training(candidate: dict, data: dict, splits: dict[str, str]) -> dict:
        steps = project_module("mlops_platform.training")
        return after_side_effect(steps.train_candidate(
            candidate, splits, config.EXPERIMENT_NAME, data["pipeline_run_id"],
            get_current_context()["run_id"], data["data_version"]))

    @task
    def select_best_model(trained: list[dict]) -> dict:
        steps = project_module("mlops_platform.selection")
        return steps.select_best_model([model["run_id"] for model in trained],
                                       get_current_context()["params"]["metric_bm"])

    @task
    def register_and_promote(best: dict, data: dict, splits: dict[str, str]) -> dict:
        steps = project_module("mlops_platform.promotion")
        return after_side_effect(steps.register_and_promote(
            best, config.REGISTERED_MODEL_NAME, splits["test"],
            get_current_context()["params"]["metric_bm"], config.CHAMPION_ALIAS,
            config.CHALLENGER_ALIAS, data["pipeline_run_id"]))

    @task
    def deploy(decision: dict) -> dict:
        steps = project_module("mlops_platform.deployment")
        return steps.deploy(config.MODEL_SERVER_URL, decision["model_name"],
                            config.CHAMPION_ALIAS, config.DEPLOY_TIMEOUT_SECONDS)

    @task
    def register_experiment() -> object:
        steps = project_module("Deployment.register_experiment")
        return steps.register_experiment(config.EXPERIMENT_NAME)

    data = read_data()
    splits = data_processing(data)
    trained = model_training.partial(data=data, splits=splits).expand(candidate=candidate_models())
    decision = register_and_promote(select_best_model(trained), data, splits)
    deploy(decision) >> register_experiment()


lifecycle = mlops_lifecycle()

if __name__ == "__main__":
    # `python DAG/dag_template.py` runs the whole DAG in this process against the stack that the
    # environment points at (Airflow's database, MLflow, IDS), with no scheduler involved.
    lifecycle.test()
