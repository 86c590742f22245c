"""Traffic for the monitoring loop: rows drawn like a project's training data, or shifted.

`make demo-drift` and the loop's tests send both to the model server. Rows are sampled (seeded,
with replacement) from the project's own example data, so the first kind looks like what the
champion was trained on; the second moves some numeric columns by a few standard deviations,
enough for the monitoring DAG to call them drifted even mixed half and half with the first.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pandas as pd
import requests

from stack.settings import Settings

# A column counts as continuous (worth shifting) with more distinct values than this; a 1/2 code
# such as the diabetes data's `sex` shifted by a fraction would be nonsense, not drift.
MIN_DISTINCT_TO_SHIFT = 10
SHIFT_IN_STD = 2.0


def example_features(project: ModuleType) -> pd.DataFrame:
    """The project's example data, feature columns only, as the CSV types them."""
    frame = pd.read_csv(project.LOCAL_DATA_FILE, sep=project.DATA.delimiter,
                        encoding=project.DATA.encoding)
    return frame[list(project.FEATURE_COLUMNS)]


def columns_to_shift(project: ModuleType) -> list[str]:
    """Enough continuous numeric features to pass the project's drift share threshold."""
    features = example_features(project)
    continuous = [column for column in project.SCHEMA.features_of_type("numeric")
                  if features[column].nunique() > MIN_DISTINCT_TO_SHIFT]
    needed = math.ceil(project.MONITORING.drift_share_threshold * len(project.FEATURE_COLUMNS))
    if len(continuous) < needed:
        raise ValueError(f"{project.EXPERIMENT_NAME} has {len(continuous)} continuous numeric "
                         f"features; shifting them cannot pass its drift share threshold "
                         f"({project.MONITORING.drift_share_threshold}) of "
                         f"{len(project.FEATURE_COLUMNS)} columns")
    return continuous[:needed]


def training_like_rows(project: ModuleType, count: int, seed: int) -> pd.DataFrame:
    """`count` rows sampled from the example data (with replacement, seeded)."""
    return example_features(project).sample(count, replace=True, random_state=seed,
                                            ignore_index=True)


def shifted_rows(project: ModuleType, count: int, seed: int,
                 columns: list[str]) -> pd.DataFrame:
    """Rows like `training_like_rows`, with each of `columns` moved up by SHIFT_IN_STD standard
    deviations (kept within the schema's bounds, so only the distribution is wrong)."""
    features = example_features(project)
    rows = training_like_rows(project, count, seed)
    specs = {spec.name: spec for spec in project.SCHEMA.features}
    for column in columns:
        shifted = rows[column] + SHIFT_IN_STD * features[column].std()
        rows[column] = shifted.clip(lower=specs[column].min, upper=specs[column].max)
    return rows


def send(server_url: str, model: str, rows: pd.DataFrame, per_request: int = 10,
         progress: Callable[[int, int], None] | None = None,
         auth: tuple[str, str] | None = None) -> int:
    """POST `rows` to `/models/<model>/invocations` in requests of `per_request` rows, with the
    model server's login when it asks for one (`auth`); return the number of requests. Any answer
    but 200 raises, naming the status and the server's reply."""
    url = f"{server_url}/models/{model}/invocations"
    chunks = [rows.iloc[start:start + per_request] for start in range(0, len(rows), per_request)]
    for number, chunk in enumerate(chunks, 1):
        body = {"dataframe_split": {"columns": list(chunk.columns), "data": [
            [None if pd.isna(value) else value for value in row]
            for row in chunk.astype(object).itertuples(index=False)]}}
        response = requests.post(url, json=body, timeout=60, auth=auth)
        if response.status_code != 200:
            raise RuntimeError(f"POST {url} answered {response.status_code}: "
                               f"{response.text[:300]}")
        if progress:
            progress(number, len(chunks))
    return len(chunks)


def _artifacts(settings: Settings, path: str) -> list[dict]:
    """The files and folders under `path` of MLflow's proxied artifact store."""
    response = requests.get(f"{settings.mlflow_url}/api/2.0/mlflow-artifacts/artifacts",
                            params={"path": path}, auth=settings.mlflow_auth, timeout=30)
    response.raise_for_status()
    return response.json().get("files", [])


def logged_rows(settings: Settings, log_prefix: str, model: str, since: datetime) -> int:
    """How many rows the model server's inference log holds for `model` with requests that
    arrived at `since` or later (read through MLflow's artifact proxy, as the monitoring DAG
    reads them)."""
    import pyarrow.parquet as pq

    rows = 0
    day, today = since.astimezone(UTC).date(), datetime.now(UTC).date()
    while day <= today:
        folder = f"{log_prefix}/{model}/date={day.isoformat()}"
        for entry in _artifacts(settings, folder):
            if entry.get("is_dir") or not entry["path"].endswith(".parquet"):
                continue
            response = requests.get(
                f"{settings.mlflow_url}/api/2.0/mlflow-artifacts/artifacts/{folder}/"
                f"{entry['path'].rsplit('/', 1)[-1]}", auth=settings.mlflow_auth, timeout=60)
            response.raise_for_status()
            stamps = pq.read_table(io.BytesIO(response.content), columns=["timestamp"])
            rows += sum(1 for stamp in stamps.column("timestamp").to_pylist() if stamp >= since)
        day += timedelta(days=1)
    return rows
