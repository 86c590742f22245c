"""The `deploy` step: make the model server serve this project's champion, and prove that it does."""

from __future__ import annotations

import logging
import os
import time
from urllib.parse import quote

import requests

from .promotion import current_champion

log = logging.getLogger(__name__)


class DeploymentError(RuntimeError):
    """The model server did not come to serve the champion in time."""


def model_path(model_name: str) -> str:
    """Where the model server serves `model_name`: `/models/<name>`."""
    return f"/models/{quote(model_name, safe='')}"


def model_server_login() -> tuple[str, str] | None:
    """The model server's login (MODEL_SERVER_AUTH_USER/PASSWORD), None when it asks for none.

    Read from the environment here, as the IDS client reads its own: no secret passes through the
    project's config or XCom.
    """
    password = os.environ.get("MODEL_SERVER_AUTH_PASSWORD")
    return (os.environ.get("MODEL_SERVER_AUTH_USER") or "mlops", password) if password else None


def deploy(model_server_url: str, model_name: str, champion_alias: str,
           timeout: float = 300, poll_seconds: float = 2) -> dict:
    """Ask the model server to load the champion of `model_name`; wait until it serves it.

    The server also follows every alias on its own; the reload makes a first champion served at
    once and a switch immediate. The task fails if the server cannot serve the version in time.
    """
    champion = current_champion(model_name, champion_alias)
    if champion is None:
        raise DeploymentError(f"{model_name} has no {champion_alias!r} version to deploy")
    base = model_server_url.rstrip("/")
    url = f"{base}{model_path(model_name)}/reload"
    deadline = time.monotonic() + timeout
    served: dict = {}
    while time.monotonic() < deadline:
        try:
            response = requests.post(url, auth=model_server_login(),
                                     timeout=max(5.0, deadline - time.monotonic()))
        except requests.RequestException as error:
            log.warning("model server at %s not reachable: %s", base, error)
            time.sleep(poll_seconds)
            continue
        served = response.json() if response.headers.get("content-type", "").startswith(
            "application/json") else {"status": response.status_code, "body": response.text[:300]}
        if response.status_code == 200 and str(served.get("version")) == str(champion.version):
            log.info("%s serves %s version %s at %s/invocations", base, model_name,
                     champion.version, model_path(model_name))
            return {"deployed": True, "model_name": model_name, "version": champion.version,
                    "endpoint": f"{base}{model_path(model_name)}/invocations", "served": served}
        # 502: the server could not load the version (it keeps serving the previous one).
        log.warning("model server answered %s for %s: %s", response.status_code, model_name, served)
        time.sleep(poll_seconds)
    raise DeploymentError(f"the model server at {base} does not serve {model_name} version "
                          f"{champion.version} after {timeout:.0f}s; it answered: "
                          f"{served or 'nothing'}")
