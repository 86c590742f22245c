"""Client side of offering a file: streams it to the edge's self-description API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

CHUNK = 1024 * 1024
OFFER_PATH = "/api/offeredFile/"


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def default_api_url() -> str:
    host = os.environ.get("IDS_EDGE_HOST") or "127.0.0.1"
    return f"https://{host}:{os.environ.get('IDS_EDGE_API_PORT') or 8090}"


def offer_file(
    path: Path,
    title: str,
    api_url: str,
    user: str,
    password: str,
    description: str = "",
    verify: bool | str = False,
) -> dict[str, Any]:
    """Offer `path` under `title`; returns the new resource. Raises httpx errors on failure."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    params = {"title": title, "fileName": path.name}
    if description:
        params["description"] = description
    # No read timeout cut: the edge answers only after the whole file is stored.
    timeout = httpx.Timeout(connect=10.0, read=600.0, write=600.0, pool=10.0)
    response = httpx.post(
        api_url.rstrip("/") + OFFER_PATH,
        params=params,
        content=_chunks(path),
        headers={"content-type": "application/octet-stream",
                 "content-length": str(path.stat().st_size)},
        auth=(user, password),
        verify=verify,
        timeout=timeout,
    )
    if response.status_code != 200:
        raise httpx.HTTPStatusError(
            f"offering {path} failed: {response.status_code} {response.text.strip()}",
            request=response.request,
            response=response,
        )
    return response.json()
