"""What a scoring request fed its model and got back, taken where MLflow's scoring app calls predict.

MLflow's scoring app parses the request (`dataframe_split`, `dataframe_records`, `instances`,
`inputs`, CSV, Parquet) and calls `model.predict(data, params=...)` in a worker thread. Wrapping
the model it is given records exactly those parsed inputs and the raw output, so nothing is
parsed twice and the log holds what was scored. The request handler opens a `Scored` slot in a
context variable; `asyncio.to_thread` and the app's own tasks copy the context, so the thread
that predicts fills the slot of its own request.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass
class Scored:
    """Filled by the model's predict: the parsed inputs and the raw output of one request."""

    inputs: Any = None
    output: Any = None
    input_names: tuple[str, ...] = ()
    done: bool = False


SCORING: ContextVar[Scored | None] = ContextVar("scoring", default=None)


class RecordingModel:
    """A pyfunc model whose `predict` also fills the current request's `Scored` slot, if any.

    Everything else (metadata, signature, ...) is the wrapped model's: MLflow's scoring app reads
    the input schema and predict's signature from it.
    """

    def __init__(self, model: Any) -> None:
        self._model = model
        schema = model.metadata.get_input_schema()
        self._input_names = tuple(schema.input_names()) if schema is not None and \
            schema.has_input_names() else ()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        output = self._model.predict(data, params=params)
        slot = SCORING.get()
        if slot is not None:
            slot.inputs, slot.output, slot.input_names, slot.done = (
                data, output, self._input_names, True)
        return output
