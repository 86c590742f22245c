"""The `deploy` step: make the model server serve the current champion, and prove that it does."""

from __future__ import annotations

import logging
import time

import requests

from .promote_model import current_champion

log = logging.getLogger(__name__)


class DeploymentError(RuntimeError):
    """The model server did not come to serve the champion in time."""


def deploy(model_server_url: str, model_name: str, champion_alias: str,
           timeout: float = 300, poll_seconds: float = 2) -> dict:
    """Ask the model server to reload the champion, then wait until it serves that version.

    The server also follows the alias on its own; the reload only makes the switch immediate.
    A server that serves another registered model (another project's) is left alone.
    """
    champion = current_champion(model_name, champion_alias)
    if champion is None:
        raise DeploymentError(f"{model_name} has no {champion_alias!r} version to deploy")
    base = model_server_url.rstrip("/")
    deadline = time.monotonic() + timeout
    served: dict = {}
    while time.monotonic() < deadline:
        try:
            response = requests.post(f"{base}/reload", timeout=max(5.0, deadline - time.monotonic()))
        except requests.RequestException as error:
            log.warning("model server at %s not reachable: %s", base, error)
            time.sleep(poll_seconds)
            continue
        served = response.json() if response.headers.get("content-type", "").startswith(
            "application/json") else {"status": response.status_code, "body": response.text[:300]}
        if response.status_code != 200:
            # 502: the server could not load the version; it keeps serving the previous one.
            log.warning("model server reload answered %s: %s", response.status_code, served)
            time.sleep(poll_seconds)
            continue
        if served.get("model_name") != model_name:
            log.warning("the model server at %s serves %r, not %r: nothing to deploy there",
                        base, served.get("model_name"), model_name)
            return {"deployed": False, "model_name": model_name, "version": champion.version,
                    "served": served}
        if str(served.get("version")) == str(champion.version):
            log.info("%s serves %s version %s", base, model_name, champion.version)
            return {"deployed": True, "model_name": model_name, "version": champion.version,
                    "served": served}
        time.sleep(poll_seconds)
    raise DeploymentError(f"the model server at {base} still serves {served or 'nothing'} after "
                          f"{timeout:.0f}s; expected {model_name} version {champion.version}")
