"""A project's description (`project.toml`) as typed, checked data: what the project decides."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASKS = ("regression", "classification")
COLUMN_TYPES = ("numeric", "categorical", "boolean")
DATA_SOURCES = ("ids", "local", "s3")


class DescriptionError(ValueError):
    """`project.toml` is malformed; the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the dataset: its type, whether it may be missing, and its allowed values."""

    name: str
    type: str
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Schema:
    target: ColumnSpec
    features: tuple[ColumnSpec, ...]
    # Binary classification: the class whose probability ROC AUC scores (default: the last class
    # in sorted order, scikit-learn's convention).
    positive_class: str | None = None

    @property
    def columns(self) -> tuple[ColumnSpec, ...]:
        return (*self.features, self.target)

    @property
    def feature_names(self) -> list[str]:
        return [column.name for column in self.features]

    def features_of_type(self, column_type: str) -> list[str]:
        return [column.name for column in self.features if column.type == column_type]


@dataclass(frozen=True)
class DataSettings:
    source: str = "local"
    ids_title: str = ""
    local_path: str = ""
    s3_uri: str = ""
    delimiter: str = ";"
    encoding: str = "utf-8"
    min_rows: int = 50
    max_mb: float = 100.0  # a larger file is refused before it is parsed (memory)
    allow_duplicate_rows: bool = False


@dataclass(frozen=True)
class SplitSettings:
    seed: int = 42
    validation_fraction: float = 0.2
    test_fraction: float = 0.2


@dataclass(frozen=True)
class MonitoringSettings:
    """How the monitoring DAG watches the champion, and when it asks for retraining."""

    enabled: bool = True
    schedule: str = "@hourly"  # cron or an Airflow preset
    window_hours: float = 24.0  # served inputs younger than this count
    min_rows: int = 50  # fewer served rows: nothing to compare yet
    # Evidently's dataset-drift rule: retrain when at least this share of columns drifted.
    drift_share_threshold: float = 0.5
    # Retrain when the champion's metric on a newer labeled batch is worse than its recorded test
    # score by more than this fraction of that score.
    performance_drop_threshold: float = 0.2


@dataclass(frozen=True)
class ProjectDescription:
    name: str  # the MLflow experiment and registered model
    dag_id: str
    task: str
    metric: str  # a measure of the task, e.g. r2 or f1_macro
    data: DataSettings
    schema: Schema
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    split: SplitSettings = SplitSettings()
    monitoring: MonitoringSettings = MonitoringSettings()


class _Table:
    """A TOML table read key by key, so that every error names the key it is about."""

    def __init__(self, path: Path, where: str, values: Any) -> None:
        if not isinstance(values, dict):
            raise DescriptionError(f"{path}: [{where}] must be a table")
        self.path, self.where, self.values = path, where, dict(values)

    def error(self, key: str, message: str) -> DescriptionError:
        return DescriptionError(f"{self.path}: {f'{self.where}.{key}'.lstrip('.')}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.values:
            if default is ...:
                raise self.error(key, "missing")
            return default
        value = self.values.pop(key)
        # TOML integers are valid floats; booleans are not numbers.
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            raise self.error(key, f"{value!r} is not a {getattr(kind, '__name__', kind)}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.error(key, f"{value!r}: use one of {', '.join(choices)}")
        return value

    def table(self, key: str, default: Any = ...) -> _Table:
        return _Table(self.path, f"{self.where}.{key}".lstrip("."), self.get(key, dict, default))

    def done(self) -> None:
        if self.values:
            raise DescriptionError(f"{self.path}: [{self.where}] unknown key(s): "
                                   f"{', '.join(self.values)}")


def _column(table: _Table, name: str) -> ColumnSpec:
    column_type = table.choice("type", COLUMN_TYPES)
    bounds = {key: table.get(key, float, None) for key in ("min", "max")}
    categories = table.get("categories", list, None)
    if categories is not None:
        if column_type != "categorical":
            raise table.error("categories", "only categorical columns have categories")
        categories = tuple(str(value) for value in categories)
    if column_type != "numeric" and any(value is not None for value in bounds.values()):
        raise table.error("min", "only numeric columns have a min or max")
    column = ColumnSpec(name, column_type, table.get("nullable", bool, False),
                        categories=categories, **bounds)
    table.done()
    return column


def _schema(table: _Table, task: str) -> Schema:
    target_table = table.table("target")
    target_name = target_table.get("name", str)
    positive = target_table.get("positive_class", str, None)
    target = _column(target_table, target_name)
    if task == "regression" and target.type != "numeric":
        raise target_table.error("type", "a regression target must be numeric")
    if task == "classification" and target.type == "numeric":
        raise target_table.error("type", "a classification target is categorical or boolean")
    if target.nullable:
        raise target_table.error("nullable", "the target may not be missing")
    if positive is not None and (task != "classification" or (
            target.categories is not None and positive not in target.categories)):
        raise target_table.error("positive_class", f"{positive!r} is not one of the target's "
                                                   f"classes {list(target.categories or ())}")
    features_table = table.table("features")
    features = tuple(_column(features_table.table(name), name)
                     for name in list(features_table.values))
    if not features:
        raise table.error("features", "at least one feature column is needed")
    if target_name in {column.name for column in features}:
        raise table.error("features", f"{target_name!r} is the target; it cannot be a feature")
    table.done()
    return Schema(target, features, positive)


def _monitoring(table: _Table) -> MonitoringSettings:
    defaults = MonitoringSettings()
    settings = MonitoringSettings(
        enabled=table.get("enabled", bool, defaults.enabled),
        schedule=table.get("schedule", str, defaults.schedule).strip(),
        window_hours=table.get("window_hours", float, defaults.window_hours),
        min_rows=table.get("min_rows", int, defaults.min_rows),
        drift_share_threshold=table.get("drift_share_threshold", float,
                                        defaults.drift_share_threshold),
        performance_drop_threshold=table.get("performance_drop_threshold", float,
                                             defaults.performance_drop_threshold),
    )
    if not settings.schedule:
        raise table.error("schedule", "empty: give a cron expression such as '0 * * * *' or a "
                                      "preset such as '@hourly'")
    if settings.window_hours <= 0:
        raise table.error("window_hours", f"{settings.window_hours}: must be more than 0")
    if settings.min_rows < 1:
        raise table.error("min_rows", f"{settings.min_rows}: must be at least 1")
    if not 0 < settings.drift_share_threshold <= 1:
        raise table.error("drift_share_threshold",
                          f"{settings.drift_share_threshold}: must be in (0, 1]")
    if settings.performance_drop_threshold < 0:
        raise table.error("performance_drop_threshold",
                          f"{settings.performance_drop_threshold}: must be 0 or more")
    table.done()
    return settings


def parse_description(document: dict, path: Path = Path("project.toml")) -> ProjectDescription:
    """Check `document` (a parsed project.toml) and return it as typed data."""
    from .metrics import measures  # the metrics module knows each task's measures

    root = _Table(path, "", document)
    project = root.table("project")
    name = project.get("name", str)
    dag_id = project.get("dag_id", str)
    task = project.choice("task", TASKS)
    metric = project.choice("metric", tuple(measures(task)))
    project.done()

    data_table = root.table("data")
    data = DataSettings(
        source=data_table.choice("source", DATA_SOURCES),
        ids_title=data_table.get("ids_title", str, name),
        local_path=data_table.get("local_path", str, ""),
        s3_uri=data_table.get("s3_uri", str, ""),
        delimiter=data_table.get("delimiter", str, ";"),
        encoding=data_table.get("encoding", str, "utf-8"),
        min_rows=data_table.get("min_rows", int, 50),
        max_mb=data_table.get("max_mb", float, 100.0),
        allow_duplicate_rows=data_table.get("allow_duplicate_rows", bool, False),
    )
    if data.max_mb <= 0:
        raise data_table.error("max_mb", f"{data.max_mb!r}: the largest dataset, in MB, must be > 0")
    data_table.done()

    split_table = root.table("split", {})
    split = SplitSettings(split_table.get("seed", int, 42),
                          split_table.get("validation_fraction", float, 0.2),
                          split_table.get("test_fraction", float, 0.2))
    split_table.done()

    schema = _schema(root.table("schema"), task)
    monitoring = _monitoring(root.table("monitoring", {}))

    candidates_table = root.table("candidates")
    candidates = {}
    for candidate_name in list(candidates_table.values):
        spec = candidates_table.table(candidate_name)
        candidates[candidate_name] = {"estimator": spec.get("estimator", str),
                                      "params": spec.get("params", dict, {})}
        spec.done()
    if not candidates:
        raise root.error("candidates", "at least one candidate model is needed")
    root.done()
    return ProjectDescription(name, dag_id, task, metric, data, schema, candidates, split,
                              monitoring)


def load_description(path: Path) -> ProjectDescription:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise DescriptionError(f"{path}: not valid TOML: {error}") from error
    return parse_description(document, path)
