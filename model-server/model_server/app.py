"""The HTTP front: health and control routes, and scoring routed to each model's served version.

- `POST /invocations`: the default model (REGISTERED_MODEL_NAME, the template's).
- `POST /models/<registered-model-name>/invocations`: that model's champion.
Both speak MLflow's scoring protocol: each request goes to MLflow's own scoring app of the
version served when it arrived. A request it answers with 200 goes to the inference log
(inference_log.py): its id, arrival, model, version, the inputs MLflow parsed and the output.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from mlflow.version import VERSION as MLFLOW_VERSION

from .capture import SCORING, Scored
from .catalog import ModelCatalog
from .champion import ChampionTracker, ServedModel
from .inference_log import InferenceLog, ScoredRequest, row_count

DEFAULT_SCORING_PATH = "/invocations"
MODELS_PREFIX = "/models/"


def _control_app(catalog: ModelCatalog, poll_seconds: float,
                 inference_log: InferenceLog) -> FastAPI:
    default = catalog.tracker(catalog.default_name)

    def _status(tracker: ChampionTracker) -> dict:
        return {"status": "ok", **tracker.status(), "inference_log": inference_log.status()}

    async def _refresh(tracker: ChampionTracker) -> JSONResponse:
        """Load the alias's current version now; 200 once it serves, 502 if it cannot be loaded."""
        try:
            await asyncio.to_thread(tracker.refresh)
        except Exception:
            return JSONResponse(_status(tracker), status_code=502)
        if tracker.current is None:
            return JSONResponse({**_status(tracker), "error_code": "NO_CHAMPION"}, status_code=404)
        return JSONResponse(_status(tracker))

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        stop = threading.Event()
        follower = threading.Thread(target=catalog.follow, args=(poll_seconds, stop),
                                    name="champion-follower", daemon=True)
        follower.start()
        inference_log.start()
        yield
        stop.set()
        await asyncio.to_thread(inference_log.close)  # what is queued is written first

    app = FastAPI(title="model-server", lifespan=lifespan)

    # Healthy as soon as the process answers, champion or not: /invocations says what is missing.
    @app.get("/ping")
    @app.get("/health")
    async def health() -> dict:
        return _status(default)

    @app.get("/version")
    async def version() -> Response:
        # As MLflow's scoring server answers it: the MLflow version.
        return Response(content=MLFLOW_VERSION, media_type="application/json")

    @app.get("/champion")
    async def champion() -> dict:
        return _status(default)

    @app.get("/models")
    async def models() -> dict:
        """Every model the server follows, with the version it serves (null: none yet)."""
        return {"default": catalog.default_name, "alias": catalog.alias,
                "inference_log": inference_log.status(),
                "models": [{**tracker.status(),
                            "inference_log": inference_log.model_status(tracker.model_name)}
                           for tracker in catalog.trackers()]}

    @app.post("/reload")
    async def reload() -> JSONResponse:
        """Pick up the default model's current version now."""
        return await _refresh(default)

    @app.post("/models/{name:path}/reload")
    async def reload_model(name: str) -> JSONResponse:
        """Serve `name`'s champion now (the deploy task calls this); 404 if it has none."""
        response = await _refresh(catalog.tracker(name))
        if response.status_code == 404:
            catalog.forget_if_unserved(name)
        return response

    return app


async def _json_error(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def _scored_model(path: str) -> str | None:
    """The model name of a scoring path (`/models/<name>/invocations`), else None."""
    if path.startswith(MODELS_PREFIX) and path.endswith(DEFAULT_SCORING_PATH):
        name = path[len(MODELS_PREFIX):-len(DEFAULT_SCORING_PATH)]
        return name or None
    return None


async def _score_and_log(served: ServedModel, scope, receive, send,
                         inference_log: InferenceLog) -> None:
    """Run MLflow's scoring app; hand a 200's inputs and output to the inference log."""
    request_id, arrived = uuid.uuid4().hex, datetime.now(UTC)
    slot, status = Scored(), 0

    async def send_and_watch(message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            # The log's id of this request, so a client can join labels to its rows later.
            message = {**message, "headers": [*message.get("headers", []),
                                              (b"x-request-id", request_id.encode())]}
        await send(message)

    token = SCORING.set(slot)
    try:
        await served.app(scope, receive, send_and_watch)
    finally:
        SCORING.reset(token)
    if status == 200 and slot.done:
        inference_log.record(ScoredRequest(
            request_id, arrived, served.name, served.version, slot.inputs, slot.output,
            slot.input_names, row_count(slot.inputs)))


def build_app(catalog: ModelCatalog, poll_seconds: float, inference_log: InferenceLog):
    """An ASGI app: scoring requests go to the served model's MLflow app, the rest to control."""
    control = _control_app(catalog, poll_seconds, inference_log)

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            await control(scope, receive, send)
            return
        path = scope["path"]
        name = catalog.default_name if path == DEFAULT_SCORING_PATH else _scored_model(path)
        if name is None:
            await control(scope, receive, send)
            return
        tracker = catalog.known(name)
        if tracker is None:
            await _json_error(send, 404, {
                "error_code": "MODEL_NOT_SERVED",
                "message": f"no registered model {name!r} holds the alias {catalog.alias!r}; "
                           f"served: {[t.model_name for t in catalog.trackers() if t.current]}"})
            return
        served = tracker.current  # read once: this request keeps this model to the end
        if served is None:
            await _json_error(send, 503, {
                "error_code": "NO_CHAMPION",
                "message": f"no version of registered model {name!r} has the alias "
                           f"{catalog.alias!r} yet; run the project's DAG to train and promote one",
                "last_error": tracker.last_error})
            return
        # MLflow's scoring app knows one route; every model's requests take it.
        scope = {**scope, "path": DEFAULT_SCORING_PATH, "raw_path": DEFAULT_SCORING_PATH.encode()}
        if inference_log.enabled:
            await _score_and_log(served, scope, receive, send, inference_log)
        else:
            await served.app(scope, receive, send)

    return app
