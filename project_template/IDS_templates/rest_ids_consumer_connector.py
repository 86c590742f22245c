"""Reads a dataset offered by an edge TRUE Connector through the cloud data app (five IDS steps)."""

from __future__ import annotations

import logging
import tempfile
from typing import IO, Any

import requests

from .ids_errors import IDSConnectorUnreachable, IDSProtocolError, IDSResourceNotFound
from .ids_http import IdsHttp
from .ids_messages import contract_request, first_title, forward_to, proxy_body
from .ids_settings import IdsClientSettings

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


def find_resource_id(description: dict[str, Any], title: str, where: str) -> str:
    """The `@id` of the resource titled `title`: an exact title first, else one containing it.

    The original client matched any title that contains `title`; an exact match now wins so that
    `wine` does not pick `wine-quality-v2` when `wine` exists too.
    """
    try:
        resources = description["ids:resourceCatalog"][0].get("ids:offeredResource") or []
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise IDSProtocolError("description", "no ids:resourceCatalog in the answer") from exc
    titles = [(first_title(r), r.get("@id")) for r in resources if isinstance(r, dict)]
    for candidate, resource_id in titles:
        if candidate == title and resource_id:
            return resource_id
    for candidate, resource_id in titles:
        if title in candidate and resource_id:
            return resource_id
    raise IDSResourceNotFound(title, [t for t, _ in titles], where)


def _json(response: requests.Response, step: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise IDSProtocolError(step, f"not JSON: {response.text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise IDSProtocolError(step, "expected a JSON object")
    return data


class RestIDSConsumerConnector:
    """The consumer side of the CLARUS template's IDS integration, same public names."""

    def __init__(
        self, settings: IdsClientSettings | None = None, session: requests.Session | None = None
    ) -> None:
        self.settings = settings or IdsClientSettings.from_env()
        self.http = IdsHttp(self.settings, session)

    # --- the call the template's README documents ------------------------------------------------
    def get_external_artifact_by_resource_title(
        self,
        title: str,
        edge_ip: str | None = None,
        edge_port: str | int | None = None,
        cloud_ip: str | None = None,
        cloud_port: str | int | None = None,
    ) -> IO[bytes]:
        """Download the artifact of the edge resource titled `title` into a rewound temp file.

        Runs the TRUE Connector's five steps through the cloud data app: connector description,
        resource description, contract request, contract agreement, artifact request. Hosts and
        ports left out come from the IDS_* environment variables. Raises an `IDSError` subclass
        on failure, never returns None. Read the result with, e.g.,
        `pd.read_csv(data, delimiter=';', quotechar='"')`; it is deleted when closed.
        """
        s = self.settings
        proxy = f"https://{cloud_ip or s.cloud_host}:{cloud_port or s.cloud_data_app_port}/proxy"
        target = forward_to(edge_ip or s.edge_host, edge_port or s.edge_ids_port)

        description = self._proxy("connector description", proxy,
                                  proxy_body("DescriptionRequestMessage", target))
        resource_id = find_resource_id(_json(description, "connector description"), title, target)
        log.info("IDS resource %r is %s", title, resource_id)

        resource = _json(self._proxy("resource description", proxy, proxy_body(
            "DescriptionRequestMessage", target, requestedElement=resource_id)),
            "resource description")
        try:
            offer = resource["ids:contractOffer"][0]
            artifact_id = resource["ids:representation"][0]["ids:instance"][0]["@id"]
        except (KeyError, IndexError, TypeError) as exc:
            raise IDSProtocolError("resource description",
                                   "no contract offer or artifact in the resource") from exc

        agreement = _json(self._proxy("contract request", proxy, proxy_body(
            "ContractRequestMessage", target, requestedElement=artifact_id,
            payload=contract_request(offer, s.consumer_id))), "contract request")
        transfer_contract = agreement.get("@id")
        if not isinstance(transfer_contract, str):
            raise IDSProtocolError("contract request", "the agreement has no @id")

        self._proxy("contract agreement", proxy, proxy_body(
            "ContractAgreementMessage", target, requestedArtifact=artifact_id, payload=agreement))

        body = proxy_body("ArtifactRequestMessage", target, requestedArtifact=artifact_id,
                          transferContract=transfer_contract)
        return self._download(proxy, body)

    def is_artifact_internal_registered_by_resource_title(
        self, resource_title: str, trainning_provider_ip: str | None = None,
        port: str | int | None = None,
    ) -> bool:
        """Whether the cloud connector's own catalog offers a resource with this title."""
        s = self.settings
        url = f"https://{trainning_provider_ip or s.cloud_host}:{port or s.cloud_api_port}/"
        description = _json(self.http.checked("self description", "GET", url, s.api_auth),
                            "self description")
        try:
            find_resource_id(description, resource_title, url)
        except IDSResourceNotFound:
            return False
        return True

    # --- internals ---------------------------------------------------------------------------------
    def _proxy(self, step: str, proxy: str, body: dict[str, Any]) -> requests.Response:
        log.debug("IDS step %s: %s", step, body.get("messageType"))
        return self.http.checked(step, "POST", proxy, self.settings.connector_auth, body=body)

    def _download(self, proxy: str, body: dict[str, Any]) -> IO[bytes]:
        """Stream the artifact to a temporary file; a broken transfer is retried from the start."""
        attempts = self.settings.retries + 1
        target = tempfile.TemporaryFile(prefix="ids-artifact-")  # noqa: SIM115 - returned open
        try:
            for attempt in range(attempts):
                target.seek(0)
                target.truncate()
                response = self.http.checked("artifact request", "POST", proxy,
                                             self.settings.connector_auth, body=body, stream=True)
                try:
                    with response:
                        for chunk in response.iter_content(CHUNK):
                            target.write(chunk)
                except (requests.ConnectionError, requests.Timeout,
                        requests.exceptions.ChunkedEncodingError) as exc:
                    if attempt + 1 == attempts:
                        raise IDSConnectorUnreachable(proxy, attempts,
                                                      f"artifact transfer broke off: {exc}") from exc
                    log.warning("Artifact transfer broke off (%s); retrying", exc)
                    self.http.backoff(attempt)
                    continue
                size = target.tell()
                target.seek(0)
                log.info("IDS artifact downloaded: %d bytes", size)
                return target
            raise AssertionError("unreachable")  # the loop always returns or raises
        except BaseException:
            target.close()
            raise
