"""The classification example (wine, with a categorical column) through every step, as the
template's regression is: metrics, a model that answers labels or probabilities, promotion that
never takes a worse model, and bad data that fails naming the problem."""

from __future__ import annotations

import importlib

import mlflow
import pandas as pd
import pytest
from conftest import run_lifecycle
from mlflow.tracking import MlflowClient

MOST_FREQUENT = {"name": "most_frequent", "estimator": "sklearn.dummy.DummyClassifier",
                 "params": {"strategy": "prior"}}
LOGISTIC = {"name": "logistic", "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 2000}}


@pytest.fixture
def wine(classification_project):
    return {name: importlib.import_module(f"wine_check.{name}") for name in (
        "config", "Data.read_data", "mlops_platform.promotion", "mlops_platform.schema",
        "mlops_platform.dataset_store")}


def _source(wine, path=None):
    return wine["Data.read_data"].resolve_data_source("local", path)


def test_training_logs_the_classification_metrics_and_a_model_of_raw_rows(wine, experiment):
    config = wine["config"]
    result = run_lifecycle(_source(wine), experiment, f"{experiment}-model", [LOGISTIC],
                           project="wine_check")
    run = MlflowClient().get_run(result["trained"][0]["run_id"])
    for split in ("train", "validation"):
        for measure in ("accuracy", "f1_macro", "roc_auc", "log_loss"):
            assert f"{measure}_{split}" in run.data.metrics
    assert run.data.metrics["f1_macro_validation"] > 0.8
    assert run.data.tags["task"] == "classification"
    decision = result["decision"]
    assert decision["promoted"] and decision["metric"] == "f1_macro_test"

    # The served model takes raw rows, the categorical column as text, and answers labels; it
    # answers class probabilities when asked.
    model = mlflow.pyfunc.load_model(f"models:/{experiment}-model@champion")
    rows = wine["mlops_platform.dataset_store"].load_frame(result["splits"]["test"])
    features = rows[list(config.FEATURE_COLUMNS)].head(6)
    assert features["alcohol_level"].isin(["low", "medium", "high"]).all()
    labels = list(model.predict(features))
    assert set(labels) <= {"class_0", "class_1", "class_2"}
    probabilities = model.predict(features, params={"predict_method": "predict_proba"})
    assert isinstance(probabilities, pd.DataFrame)
    assert list(probabilities.columns) == ["class_0", "class_1", "class_2"]
    assert probabilities.sum(axis=1).round(6).eq(1).all()
    assert list(probabilities.idxmax(axis=1)) == labels
    stored = {info.path for info in mlflow.artifacts.list_artifacts(
        artifact_uri=f"models:/{experiment}-model@champion")}
    assert "classifier_model.py" in stored and "uv.lock" not in stored, stored
    schema = model.metadata.get_input_schema()
    assert dict(zip(schema.input_names(), (str(t) for t in schema.input_types()), strict=True))[
        "alcohol_level"] == "DataType.string"


def test_a_worse_classifier_never_becomes_champion(wine, experiment):
    model = f"{experiment}-model"
    run_lifecycle(_source(wine), experiment, model, [LOGISTIC], project="wine_check")
    worse = run_lifecycle(_source(wine), experiment, model, [MOST_FREQUENT],
                          project="wine_check")["decision"]
    assert not worse["promoted"] and worse["alias"] == "challenger"
    assert worse["score"] < worse["previous_champion_score"]
    assert str(wine["mlops_platform.promotion"].current_champion(model, "champion").version) == "1"


def test_promotion_by_a_smaller_is_better_metric(wine, experiment):
    model = f"{experiment}-model"
    run_lifecycle(_source(wine), experiment, model, [MOST_FREQUENT], project="wine_check",
                  metric="log_loss_validation")
    better = run_lifecycle(_source(wine), experiment, model, [LOGISTIC], project="wine_check",
                           metric="log_loss_validation")["decision"]
    assert better["metric"] == "log_loss_test"
    assert better["promoted"] and better["score"] < better["previous_champion_score"]


def test_an_unknown_category_fails_naming_column_rows_and_rule(wine, experiment, tmp_path):
    config = wine["config"]
    raw = (config.PROJECT_DIR / config.DATA.local_path).read_text().splitlines()
    cells = raw[3].split(";")
    cells[0] = "very high"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([*raw[:3], ";".join(cells), *raw[4:]]) + "\n")
    with pytest.raises(wine["mlops_platform.schema"].DataValidationError,
                       match=r"column 'alcohol_level' must be one of \['low', 'medium', 'high'\]: "
                             r"1 row\(s\) fail, data row\(s\) 3 \(values 'very high'\)"):
        run_lifecycle(_source(wine, str(bad)), experiment, f"{experiment}-model", [LOGISTIC],
                      project="wine_check")


def test_binary_roc_auc_scores_the_positive_class():
    from project_template.mlops_platform.metrics import Predictions, score

    truth = pd.Series(["no", "yes", "yes", "no"])
    probabilities = pd.DataFrame({"no": [0.9, 0.2, 0.4, 0.3], "yes": [0.1, 0.8, 0.6, 0.7]})
    predictions = Predictions(probabilities.idxmax(axis=1).to_numpy(), probabilities)
    assert score("classification", truth, predictions, "test")["roc_auc_test"] == 0.75
    assert score("classification", truth, predictions, "test", "no")["roc_auc_test"] == 0.75
    assert score("classification", truth, predictions, "test")["accuracy_test"] == 0.75
    # Without probabilities, the measures that need them are left out rather than made up.
    assert set(score("classification", truth, Predictions(predictions.values), "test")) == {
        "accuracy_test", "f1_macro_test"}


def test_the_feature_steps_take_categorical_boolean_and_missing_values_raw():
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from project_template.mlops_platform.description import ColumnSpec, Schema
    from project_template.mlops_platform.schema import parse_dataset
    from project_template.Process.features import feature_steps

    schema = Schema(target=ColumnSpec("label", "categorical", categories=("no", "yes")),
                    features=(ColumnSpec("country", "categorical", categories=("DE", "FR", "NA")),
                              ColumnSpec("member", "boolean", nullable=True),
                              ColumnSpec("spend", "numeric", nullable=True, min=0)))
    rng = np.random.default_rng(0)
    lines = ["country;member;spend;label", *(
        f"{rng.choice(['DE', 'FR', 'NA'])};{rng.choice(['true', 'false', ''])};"
        f"{'' if row % 7 == 0 else round(rng.uniform(0, 9), 2)};{'yes' if row % 3 else 'no'}"
        for row in range(60))]
    frame = parse_dataset(("\n".join(lines) + "\n").encode(), schema)
    features = frame[schema.feature_names]
    assert features["spend"].isna().any() and features["member"].isna().any()
    model = Pipeline([("features", feature_steps(schema)), ("model", LogisticRegression())])
    model.fit(features, frame["label"])
    # One-hot: three countries, one boolean, one number; an unseen country encodes as zeros.
    assert model[:-1].transform(features).shape == (60, 5)
    unseen = features.head(1).assign(country="IT")
    assert model.predict(unseen)[0] in {"no", "yes"}
