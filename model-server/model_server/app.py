"""The HTTP front: health and control routes, and `/invocations` routed to the served model."""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from mlflow.version import VERSION as MLFLOW_VERSION

from .champion import ChampionTracker

SCORING_PATHS = {"/invocations"}


def _status(tracker: ChampionTracker) -> dict:
    served = tracker.current
    return {
        "status": "ok",
        "model_name": tracker.model_name,
        "alias": tracker.alias,
        "version": served.version if served else None,
        "champion": served.describe() if served else None,
        "last_error": tracker.last_error,
    }


def _control_app(tracker: ChampionTracker, poll_seconds: float) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI):
        stop = threading.Event()
        follower = threading.Thread(target=tracker.follow, args=(poll_seconds, stop),
                                    name="champion-follower", daemon=True)
        follower.start()
        yield
        stop.set()

    app = FastAPI(title="model-server", lifespan=lifespan)

    # Healthy as soon as the process answers, champion or not: /invocations says what is missing.
    @app.get("/ping")
    @app.get("/health")
    async def health() -> dict:
        return _status(tracker)

    @app.get("/version")
    async def version() -> Response:
        # As MLflow's scoring server answers it: the MLflow version.
        return Response(content=MLFLOW_VERSION, media_type="application/json")

    @app.get("/champion")
    async def champion() -> dict:
        return _status(tracker)

    @app.post("/reload")
    async def reload() -> JSONResponse:
        """Pick up the alias's current version now (the deploy task calls this)."""
        try:
            await asyncio.to_thread(tracker.refresh)
        except Exception:
            return JSONResponse(_status(tracker), status_code=502)
        return JSONResponse(_status(tracker))

    return app


def build_app(tracker: ChampionTracker, poll_seconds: float):
    """An ASGI app: scoring requests go to the served model's MLflow app, the rest to control."""
    control = _control_app(tracker, poll_seconds)

    async def no_champion(send) -> None:
        body = json.dumps({
            "error_code": "NO_CHAMPION",
            "message": f"no version of registered model {tracker.model_name!r} has the alias "
                       f"{tracker.alias!r} yet; run the project's DAG to train and promote one",
            "last_error": tracker.last_error,
        }).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def app(scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] in SCORING_PATHS:
            served = tracker.current  # read once: this request keeps this model to the end
            if served is None:
                await no_champion(send)
            else:
                await served.app(scope, receive, send)
            return
        await control(scope, receive, send)

    return app
