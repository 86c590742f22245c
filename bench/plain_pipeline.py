"""The template's steps in DAG order in one plain Python process: the baseline without Airflow.

Run as `python -m bench.plain_pipeline` with the environment Airflow's tasks get; prints one JSON
line with the seconds of each step. The caller times the whole process, imports included, as each
Airflow task pays for its own imports too.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable
from typing import Any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-source", default="")
    parser.add_argument("--data-location", default="")
    parser.add_argument("--candidates", default="", help="comma-separated; empty: all")
    args = parser.parse_args(argv)

    seconds: dict[str, float] = {}

    def step(name: str, call: Callable[[], Any]) -> Any:
        started = time.monotonic()
        result = call()
        seconds[name] = seconds.get(name, 0.0) + time.monotonic() - started
        return result

    def imports():
        import mlflow

        from project_template import config
        from project_template.Data import read_data as sources
        from project_template.Deployment import register_experiment
        from project_template.mlops_platform import deployment as deploy_model
        from project_template.mlops_platform import ingest as read_data
        from project_template.mlops_platform import promotion as promote_model
        from project_template.mlops_platform import selection as select_best_model
        from project_template.mlops_platform import splitting as data_processing
        from project_template.mlops_platform import training as train_model
        from project_template.Models import candidates

        mlflow.set_tracking_uri(config.MLFLOW_TRACKING_URI)
        return (config, sources, read_data, data_processing, candidates, train_model,
                select_best_model, promote_model, deploy_model, register_experiment)

    (config, sources, read_data, data_processing, candidates, train_model, select_best_model,
     promote_model, deploy_model, register_experiment) = step("imports", imports)
    run_id = f"plain__{uuid.uuid4().hex[:12]}"
    source = sources.resolve_data_source(args.data_source or None, args.data_location or None)
    data = step("read_data", lambda: read_data.read_data(source, config.EXPERIMENT_NAME, run_id))
    splits = step("data_processing", lambda: data_processing.data_processing(
        data["data_uri"], data["pipeline_run_id"]))
    chosen = step("candidate_models", lambda: candidates.resolve_candidates(
        [name for name in args.candidates.split(",") if name]))
    trained = [step("model_training", lambda c=candidate: train_model.train_candidate(
        c, splits, config.EXPERIMENT_NAME, data["pipeline_run_id"], run_id, data["data_version"]))
        for candidate in chosen]
    best = step("select_best_model", lambda: select_best_model.select_best_model(
        [model["run_id"] for model in trained], config.METRIC_BM))
    decision = step("register_and_promote", lambda: promote_model.register_and_promote(
        best, config.REGISTERED_MODEL_NAME, splits["test"], config.METRIC_BM,
        config.CHAMPION_ALIAS, config.CHALLENGER_ALIAS))
    step("deploy", lambda: deploy_model.deploy(config.MODEL_SERVER_URL, decision["model_name"],
                                               config.CHAMPION_ALIAS, config.DEPLOY_TIMEOUT_SECONDS))
    step("register_experiment", lambda: register_experiment.register_experiment(
        config.EXPERIMENT_NAME))
    print(json.dumps({"steps": seconds, "run_id": run_id}), flush=True)


if __name__ == "__main__":
    main()
