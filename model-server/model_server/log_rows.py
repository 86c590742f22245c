"""The inference log's rows: what one scoring request scored, as Parquet.

One row per scored input row: `request_id`, `timestamp` (the request's arrival, UTC),
`model_name`, `model_version`, the input columns under their own names, then `prediction` (the
served output of that row: a number or a label, or a JSON string when it is not a scalar).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

PARQUET = "application/vnd.apache.parquet"
# The columns every row starts with; input columns follow, then PREDICTION.
KEYS = ("request_id", "timestamp", "model_name", "model_version")
PREDICTION = "prediction"


@dataclass(frozen=True)
class ScoredRequest:
    """One successful scoring request, as the request path hands it over (nothing converted)."""

    request_id: str
    arrived: datetime  # UTC
    model_name: str
    model_version: str
    inputs: Any  # what MLflow's scoring app passed to predict: DataFrame, dict, list or array
    output: Any  # what predict returned
    input_names: tuple[str, ...] = ()  # the model's input schema, names for unnamed arrays
    rows: int = 0


def row_count(inputs: Any) -> int:
    """How many rows MLflow parsed: a frame's rows, a dict's column length, a list's items."""
    if isinstance(inputs, pd.DataFrame):
        return len(inputs)
    if isinstance(inputs, dict):
        first = next(iter(inputs.values()), None)
        return int(np.size(first)) if np.ndim(first) <= 1 else len(first)
    if isinstance(inputs, np.ndarray | list):
        return len(inputs)
    return 1


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0 \
        else value


def input_frame(inputs: Any, names: tuple[str, ...] = ()) -> pd.DataFrame:
    """The scored inputs as a frame with one column per input, named as sent.

    Unnamed columns (a 2-D `instances` or `inputs` array) take the model's input names when their
    number matches, else `input_<i>`.
    """
    if isinstance(inputs, pd.DataFrame):
        return inputs.reset_index(drop=True)
    if isinstance(inputs, dict):
        return pd.DataFrame({str(k): np.atleast_1d(v).tolist() if np.ndim(v) <= 1 else list(v)
                             for k, v in inputs.items()})
    if isinstance(inputs, list) and inputs and all(isinstance(r, dict) for r in inputs):
        return pd.DataFrame([{str(k): _scalar(v) for k, v in r.items()} for r in inputs])
    array = np.asarray(inputs)
    if array.ndim == 2:
        columns = list(names) if len(names) == array.shape[1] else \
            [f"input_{i}" for i in range(array.shape[1])]
        return pd.DataFrame(array, columns=columns)
    return pd.DataFrame({"input": [_json_or_scalar(v) for v in np.atleast_1d(array).tolist()]})


def _json_or_scalar(value: Any) -> Any:
    value = _scalar(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, cls=NumpyEncoder)


def prediction_column(output: Any, rows: int) -> list:
    """The served output per row, as the scoring app serializes it (MLflow's own conversion)."""
    served = _get_jsonable_obj(output, pandas_orient="records")
    if isinstance(served, dict) and all(np.ndim(v) >= 1 and len(v) == rows
                                        for v in served.values()):
        served = [{k: v[i] for k, v in served.items()} for i in range(rows)]
    if not isinstance(served, list | tuple) or len(served) != rows:
        raise ValueError(f"the model answered {type(output).__name__} of "
                         f"{len(served) if hasattr(served, '__len__') else 1} rows for {rows} "
                         "input rows: no prediction per row")
    return [_json_or_scalar(value) for value in served]


@dataclass(frozen=True)
class LoggedRows:
    """One request's rows before conversion: its inputs as a frame and a prediction per row."""

    request: ScoredRequest
    inputs: pd.DataFrame
    predictions: list

    def layout(self) -> tuple:
        """What must match for requests to share one Parquet file: model, day, column types."""
        kinds = sorted({type(p).__name__ for p in self.predictions})
        return (self.request.model_name, self.request.arrived.date().isoformat(),
                tuple((name, str(dtype)) for name, dtype in self.inputs.dtypes.items()),
                tuple(kinds))


def logged_rows(request: ScoredRequest) -> LoggedRows:
    """The rows of one request; raises when they cannot be logged (says why)."""
    frame = input_frame(request.inputs, request.input_names)
    reserved = [c for c in frame.columns if c in (*KEYS, PREDICTION)]
    if reserved:
        raise ValueError(f"input columns {reserved} clash with the log's own columns")
    return LoggedRows(request, frame, prediction_column(request.output, len(frame)))


def rows_table(batch: list[LoggedRows]) -> pa.Table:
    """The log rows of requests of one layout, converted at once (per request costs ~10x more)."""
    counts = [len(rows.inputs) for rows in batch]

    def repeated(values: list, kind: pa.DataType) -> pa.Array:
        return pa.array(np.repeat(np.array(values, dtype=object), counts), kind)

    requests = [rows.request for rows in batch]
    inputs = pa.Table.from_pandas(pd.concat([rows.inputs for rows in batch], ignore_index=True),
                                  preserve_index=False)
    columns = {
        "request_id": repeated([r.request_id for r in requests], pa.string()),
        "timestamp": pa.array(np.repeat(np.array([r.arrived.replace(tzinfo=None) for r in requests],
                                                 dtype="datetime64[us]"), counts),
                              pa.timestamp("us", tz="UTC")),
        "model_name": repeated([r.model_name for r in requests], pa.string()),
        "model_version": repeated([r.model_version for r in requests], pa.string()),
        **{name: inputs.column(name) for name in inputs.column_names},
        PREDICTION: pa.array([p for rows in batch for p in rows.predictions]),
    }
    return pa.table(columns).combine_chunks()


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
