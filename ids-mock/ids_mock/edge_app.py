"""The edge (provider) IDS endpoint `/data`: answers the messages of the consumer flow."""

from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from ids_mock import jsonld
from ids_mock.catalog import CHUNK, CatalogError, CatalogStore
from ids_mock.faults import Faults
from ids_mock.multipart_codec import (
    MultipartError,
    PayloadTooLarge,
    boundary_of,
    encode_message,
    new_boundary,
    read_small_message,
    stream_message,
)
from ids_mock.settings import Settings

log = logging.getLogger(__name__)
JSON_TYPE = "application/json"


class Rejected(Exception):
    """The message is answered with an `ids:RejectionMessage` carrying this reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class EdgeHandler:
    """Turns one incoming IDS message into (answer header, payload)."""

    def __init__(self, settings: Settings, store: CatalogStore) -> None:
        self.settings = settings
        self.store = store
        self.me = settings.connector_id

    def answer(self, request_header: dict, kind: str, extra: dict | None = None) -> dict:
        return jsonld.message(
            kind,
            self.me,
            correlation=request_header.get("@id"),
            recipient=jsonld.ref_value(request_header.get("ids:issuerConnector")),
            extra=extra,
        )

    def description(self, header: dict) -> tuple[dict, bytes]:
        element = jsonld.ref_value(header.get("ids:requestedElement"))
        if element is None:
            access_url = f"https://{self.settings.public_host}:{self.settings.message_port}/data"
            body: Any = self.store.description(access_url, self.settings.role)
        else:
            body = self.store.find_element(element)
            if body is None:
                raise Rejected("NOT_FOUND", f"no element {element} in the catalog")
        return self.answer(header, "DescriptionResponseMessage"), json.dumps(body).encode()

    def contract_request(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        element = jsonld.ref_value(header.get("ids:requestedElement"))
        if element is None:
            raise Rejected("BAD_PARAMETERS", "ContractRequestMessage needs ids:requestedElement")
        if self.store.find_artifact(element) is None and self.store.find_element(element) is None:
            raise Rejected("NOT_FOUND", f"no artifact {element} in the catalog")
        request = _payload_object(payload, "ids:ContractRequest")
        consumer = (jsonld.ref_value(request.get("ids:consumer"))
                    or jsonld.ref_value(header.get("ids:issuerConnector")) or "unknown")
        agreement = jsonld.contract_agreement(request, self.me, consumer, element)
        self.store.add_agreement(
            agreement["@id"],
            {"artifact": element, "consumer": consumer, "offer": request.get("@id"),
             "confirmed": False, "issued": agreement["ids:contractDate"]["@value"]},
        )
        return self.answer(header, "ContractAgreementMessage"), json.dumps(agreement).encode()

    def contract_agreement(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        agreement = _payload_object(payload, "ids:ContractAgreement")
        agreement_id = agreement.get("@id")
        if not isinstance(agreement_id, str) or not self.store.confirm_agreement(agreement_id):
            raise Rejected("NOT_FOUND", f"no contract agreement {agreement_id} was issued here")
        return self.answer(header, "MessageProcessedNotificationMessage"), b""

    def artifact(self, header: dict) -> tuple[dict, Path]:
        artifact_id = jsonld.ref_value(header.get("ids:requestedArtifact"))
        if artifact_id is None:
            raise Rejected("BAD_PARAMETERS", "ArtifactRequestMessage needs ids:requestedArtifact")
        contract = jsonld.ref_value(header.get("ids:transferContract"))
        if contract is None or self.store.agreement(contract) is None:
            raise Rejected("NOT_AUTHORIZED", f"no valid transfer contract: {contract}")
        artifact = self.store.find_artifact(artifact_id)
        if artifact is None:
            raise Rejected("NOT_FOUND", f"no artifact {artifact_id} in the catalog")
        try:
            path = self.store.artifact_file(artifact)
        except CatalogError as exc:
            raise Rejected("NOT_FOUND", str(exc)) from exc
        if path is None or not path.is_file():
            raise Rejected("NOT_FOUND", f"artifact {artifact_id} has no data at this connector")
        extra = {"ids:transferContract": jsonld.ref(contract)}
        return self.answer(header, "ArtifactResponseMessage", extra), path


def _payload_object(payload: bytes, expected_type: str) -> dict[str, Any]:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected("MALFORMED_MESSAGE", f"the payload is not a JSON {expected_type}") from exc
    if not isinstance(data, dict):
        raise Rejected("MALFORMED_MESSAGE", f"the payload is not a JSON {expected_type}")
    return data


def create_edge_app(settings: Settings, store: CatalogStore, faults: Faults) -> FastAPI:
    """The app on IDS_EDGE_IDS_PORT; Basic connector authentication is added by the server."""
    app = FastAPI(title="TRUE Connector mock: edge IDS endpoint",
                  docs_url=None, redoc_url=None, openapi_url=None)
    handler = EdgeHandler(settings, store)

    @app.post("/data")
    async def data(request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        boundary = boundary_of(content_type)
        if boundary is None:
            return PlainTextResponse(
                "Expected an IDS multipart message (multipart/form-data or multipart/mixed)",
                status_code=400,
            )
        declared = int(request.headers.get("content-length") or 0)
        try:
            if declared > settings.max_payload_bytes:
                raise PayloadTooLarge(declared, settings.max_payload_bytes)
            parts = await read_small_message(
                request.stream(), boundary, settings.max_payload_bytes
            )
        except PayloadTooLarge as exc:
            return PlainTextResponse(str(exc), status_code=413)
        except MultipartError as exc:
            return PlainTextResponse(f"Malformed multipart message: {exc}", status_code=400)

        header_part = parts.get("header")
        header: dict[str, Any] = {}
        subtype = "mixed" if content_type.lower().startswith("multipart/mixed") else "form-data"
        answer_boundary = new_boundary()
        answer_type = f"multipart/{subtype}; boundary={answer_boundary}"
        try:
            if header_part is None:
                raise Rejected("MALFORMED_MESSAGE", "the message has no 'header' part")
            try:
                header = json.loads(header_part.body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise Rejected("MALFORMED_MESSAGE", "the header is not JSON-LD") from exc
            if not isinstance(header, dict):
                raise Rejected("MALFORMED_MESSAGE", "the header is not a JSON-LD object")
            message_type = jsonld.strip_prefix(str(header.get("@type", "")))
            injected = await faults.before_message(message_type)
            if injected is not None:
                return injected
            payload = parts["payload"].body if "payload" in parts else b""
            if message_type == "ArtifactRequestMessage":
                answer_header, path = handler.artifact(header)
                size = path.stat().st_size
                media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                length, body = stream_message(
                    answer_boundary, answer_header, _file_chunks(path), size, media_type
                )
                log.info("Sending artifact %s (%d bytes)", path.name, size)
                return StreamingResponse(
                    body, media_type=answer_type, headers={"content-length": str(length)}
                )
            if message_type == "DescriptionRequestMessage":
                answer_header, answer = handler.description(header)
            elif message_type == "ContractRequestMessage":
                answer_header, answer = await run_in_threadpool(
                    handler.contract_request, header, payload
                )
            elif message_type == "ContractAgreementMessage":
                answer_header, answer = await run_in_threadpool(
                    handler.contract_agreement, header, payload
                )
            else:
                raise Rejected("MESSAGE_TYPE_NOT_SUPPORTED", f"{message_type!r} is not supported")
            payload_type = JSON_TYPE if answer else "text/plain"
        except Rejected as rejection:
            log.info("Rejected %s: %s (%s)", header.get("@type"), rejection.reason, rejection)
            answer_header = jsonld.rejection(
                handler.me, rejection.reason, header.get("@id"),
                jsonld.ref_value(header.get("ids:issuerConnector")),
            )
            answer, payload_type = str(rejection).encode("utf-8"), "text/plain; charset=utf-8"
        body = encode_message(answer_boundary, answer_header, answer, payload_type)
        return Response(body, media_type=answer_type)

    return app
