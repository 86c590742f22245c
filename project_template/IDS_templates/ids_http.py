"""HTTPS calls to the connectors with separate timeouts and retries with backoff."""

from __future__ import annotations

import json
import logging
import time
import warnings
from typing import Any

import requests
from urllib3.exceptions import InsecureRequestWarning

from .ids_errors import (
    IDSAuthenticationError,
    IDSConnectorUnreachable,
    IDSLockedOut,
    IDSRejected,
    IDSTLSError,
)
from .ids_settings import IdsClientSettings

log = logging.getLogger(__name__)
REJECTION_PREFIX = "Rejection occured with reason:"


def _retry_after(response: requests.Response) -> int | None:
    """Seconds of a lockout's `Retry-After` header, None without one (or as an HTTP date)."""
    value = response.headers.get("Retry-After", "").strip()
    return int(value) if value.isdigit() else None


def _is_rejection(response: requests.Response) -> bool:
    # A rejection is the provider's final word (BAD_PARAMETERS comes as 500): never retried.
    return response.text.startswith(REJECTION_PREFIX)


class IdsHttp:
    """A requests session that retries connection errors and 5xx answers, then raises typed errors."""

    def __init__(self, settings: IdsClientSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()

    def backoff(self, attempt: int) -> None:
        time.sleep(self.settings.backoff_seconds * (2**attempt))

    def send(
        self,
        method: str,
        url: str,
        auth: tuple[str, str],
        body: Any = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """The first answer below 500 (or the last one), retrying what is worth retrying."""
        attempts = self.settings.retries + 1
        all_headers = {"Accept": "*/*", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            all_headers["Content-Type"] = "application/json"
        for attempt in range(attempts):
            try:
                with warnings.catch_warnings():
                    # Self-signed certificates are the norm for TRUE Connectors (IDS_VERIFY_TLS).
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                    response = self.session.request(
                        method, url, data=data, headers=all_headers, auth=auth,
                        verify=self.settings.verify, timeout=self.settings.timeout, stream=stream,
                    )
            except requests.exceptions.SSLError as exc:
                # A certificate does not fix itself: retrying would only delay the error.
                raise IDSTLSError(url, exc) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt + 1 == attempts:
                    raise IDSConnectorUnreachable(url, attempts, exc) from exc
                log.warning("IDS %s %s failed (%s); retrying", method, url, type(exc).__name__)
                self.backoff(attempt)
                continue
            if response.status_code >= 500 and attempt + 1 < attempts and not _is_rejection(response):
                log.warning("IDS %s %s answered %d; retrying", method, url, response.status_code)
                response.close()
                self.backoff(attempt)
                continue
            return response
        raise AssertionError("unreachable")  # the loop always returns or raises

    def checked(self, step: str, method: str, url: str, auth: tuple[str, str], body: Any = None,
                headers: dict[str, str] | None = None, stream: bool = False) -> requests.Response:
        """Like `send`, but any answer other than 200 becomes a typed error."""
        response = self.send(method, url, auth, body=body, headers=headers, stream=stream)
        if response.status_code == 200:
            return response
        text = response.text
        response.close()
        # 423: the data app's peer locked the data app out; 401 with Retry-After: the data app
        # locked us out. Either way a retry within the lock is refused again.
        locked = response.status_code == 423 or (
            response.status_code == 401 and "Retry-After" in response.headers)
        if locked and not text.startswith(REJECTION_PREFIX):
            raise IDSLockedOut(url, _retry_after(response), text or f"HTTP {response.status_code}")
        if response.status_code == 401 and not text.startswith(REJECTION_PREFIX):
            raise IDSAuthenticationError(url, auth[0], text or "HTTP 401")
        raise IDSRejected(step, url, response.status_code, text)
