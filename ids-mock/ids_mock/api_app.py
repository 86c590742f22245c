"""The ECC self-description API of one side: connector description and offered resources."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ids_mock import __version__
from ids_mock.catalog import CatalogError, CatalogStore, UnknownCatalog
from ids_mock.faults import Faults
from ids_mock.json_body import BadJsonBody, json_object
from ids_mock.settings import Settings

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """A request the API refuses with 400 and a one-line reason."""


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        return json_object(raw)
    except BadJsonBody as exc:
        raise BadRequest(str(exc)) from exc


def _query(request: Request) -> dict[str, str]:
    # Starlette replaces undecodable bytes with U+FFFD; titles must be refused instead.
    try:
        return dict(parse_qsl(request.scope["query_string"].decode("ascii"),
                              errors="strict", keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise BadRequest("Query parameters must be UTF-8 (percent-encoded).") from exc


def create_api_app(settings: Settings, store: CatalogStore, faults: Faults) -> FastAPI:
    """The self-description API app; Basic admin authentication is added by the server."""
    app = FastAPI(title=f"TRUE Connector mock: {settings.role} self-description API",
                  docs_url=None, redoc_url=None, openapi_url=None)
    access_url = f"https://{settings.public_host}:{settings.message_port}/" + (
        "data" if settings.role == "edge" else "proxy"
    )

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest) -> Response:
        return PlainTextResponse(str(exc), status_code=400)

    @app.exception_handler(CatalogError)
    async def refused(_: Request, exc: CatalogError) -> Response:
        return PlainTextResponse(f"Resource refused: {exc}", status_code=400)

    def description() -> JSONResponse:
        return JSONResponse(store.description(access_url, settings.role))

    @app.get("/")
    def connector_description() -> JSONResponse:
        return description()

    @app.get("/api/selfDescription/")
    def self_description() -> JSONResponse:
        return description()

    @app.get("/about/version")
    def version() -> PlainTextResponse:
        return PlainTextResponse(__version__)

    @app.get("/api/offeredResource/")
    def get_resource(resource: str = Header()) -> Response:
        found = store.find_element(resource)
        if found is None or found.get("@type", "").endswith("Artifact"):
            return PlainTextResponse(f"Resource {resource} not found", status_code=404)
        return JSONResponse(found)

    async def put_resource(request: Request, catalog: str | None) -> Response:
        if not catalog:
            raise BadRequest("The 'catalog' header (the @id of the resource catalog) is required.")
        resource = _json_object(await request.body())
        try:
            await run_in_threadpool(store.put_resource, resource, catalog)
        except UnknownCatalog:
            return PlainTextResponse(f"Catalog {catalog} not found", status_code=404)
        log.info("Offered resource %s", resource["@id"])
        return description()

    @app.post("/api/offeredResource/")
    async def add_or_replace(request: Request, catalog: str | None = Header(None)) -> Response:
        return await put_resource(request, catalog)

    @app.put("/api/offeredResource/")
    async def replace(request: Request, catalog: str | None = Header(None)) -> Response:
        return await put_resource(request, catalog)

    @app.delete("/api/offeredResource/")
    def delete(resource: str = Header()) -> Response:
        if not store.delete_resource(resource):
            return PlainTextResponse(f"Resource {resource} not found", status_code=404)
        return description()

    @app.post("/api/offeredFile/")
    async def offer_file(request: Request) -> Response:
        """Mock extension: stream a file into the data folder and offer it as a resource."""
        query = _query(request)
        title = query.get("title", "")
        if not title.strip():
            raise BadRequest("The 'title' query parameter is required.")
        upload = await run_in_threadpool(store.start_upload, query.get("fileName") or "artifact")
        try:
            # Written chunk by chunk as it arrives, so memory does not grow with the file.
            async for chunk in request.stream():
                if chunk:
                    upload.write(chunk)
            resource = await run_in_threadpool(upload.commit, title, query.get("description", ""))
        finally:
            upload.abort()
        log.info("Offered file %s as %r (%d bytes)", upload.stored, title, upload.size)
        return JSONResponse(resource)

    @app.get("/admin/faults")
    def get_faults() -> JSONResponse:
        return JSONResponse(faults.to_json())

    @app.put("/admin/faults")
    async def set_faults(request: Request) -> JSONResponse:
        try:
            new = Faults.from_json(_json_object(await request.body()))
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"Invalid faults: {exc}") from exc
        # The message app holds the same object, so the change applies at once.
        for name, value in vars(new).items():
            setattr(faults, name, value)
        log.warning("Fault injection set to %s", faults.to_json())
        return JSONResponse(faults.to_json())

    return app
