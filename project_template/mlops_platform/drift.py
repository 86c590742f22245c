"""Per-column drift of some inputs against a reference (Evidently), and the dataset-drift rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .description import Schema


@dataclass(frozen=True)
class ColumnDrift:
    score: float  # the test's statistic: a p-value or a distance, per `method`
    method: str  # e.g. "K-S p_value", "Wasserstein distance (normed)"
    drifted: bool  # Evidently's verdict at the method's own threshold


@dataclass(frozen=True)
class DriftResult:
    columns: dict[str, ColumnDrift]

    @property
    def drifted_columns(self) -> list[str]:
        return sorted(name for name, column in self.columns.items() if column.drifted)

    @property
    def share(self) -> float:
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    def passes(self, threshold: float) -> bool:
        """Evidently's dataset-drift rule: drift when the drifted share reaches the threshold."""
        return bool(self.columns) and self.share >= threshold


def comparable(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The schema's feature columns of `frame`, typed the same way on both sides of a comparison.

    Served inputs arrive as JSON values, stored copies as parsed CSV: numbers become floats and
    categories (and booleans) strings, so `1`, `1.0` and `"1"` never count as drift.
    """
    missing = [name for name in schema.feature_names if name not in frame.columns]
    if missing:
        raise ValueError(f"the inputs lack the feature column(s) {', '.join(missing)} of the "
                         f"project's schema (project.toml [schema.features])")
    typed = {}
    for column in schema.features:
        values = frame[column.name]
        typed[column.name] = (pd.to_numeric(values, errors="coerce").astype(float)
                              if column.type == "numeric" else values.astype("string"))
    return pd.DataFrame(typed)


def parse_drift(snapshot: dict) -> DriftResult:
    """Each column's score, method and verdict from an Evidently snapshot (`Snapshot.dict()`)
    of a DataDriftPreset report run with its tests."""
    scores = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith(":ValueDrift"):
            scores[config["column"]] = (float(metric["value"]), config["method"])
    failed = {test["metric_config"]["params"]["column"]: test["status"] == "FAIL"
              for test in snapshot.get("tests", [])
              if test["metric_config"]["params"].get("type", "").endswith(":ValueDrift")}
    if set(failed) != set(scores):
        raise ValueError(f"the drift report has scores for {sorted(scores)} but verdicts for "
                         f"{sorted(failed)}: was it run with include_tests=True?")
    return DriftResult({name: ColumnDrift(score, method, failed[name])
                        for name, (score, method) in sorted(scores.items())})


def compare(reference: pd.DataFrame, current: pd.DataFrame, schema: Schema, html_path: Path,
            drift_share: float = 0.5) -> DriftResult:
    """Test every feature column of `current` against `reference`; write the HTML report (whose
    dataset-drift test uses `drift_share`, the project's threshold)."""
    from .evidently_compat import DataDefinition, DataDriftPreset, Dataset, Report

    definition = DataDefinition(
        numerical_columns=schema.features_of_type("numeric"),
        categorical_columns=[*schema.features_of_type("categorical"),
                             *schema.features_of_type("boolean")])

    def dataset(frame: pd.DataFrame):
        return Dataset.from_pandas(comparable(frame, schema), data_definition=definition)

    snapshot = Report([DataDriftPreset(drift_share=drift_share)], include_tests=True).run(dataset(current),
                                                                    dataset(reference))
    snapshot.save_html(str(html_path))
    return parse_drift(snapshot.dict())
