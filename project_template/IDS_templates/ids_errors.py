"""Typed errors of the IDS client: each says what failed, where, and what to check."""

from __future__ import annotations


class IDSError(Exception):
    """Base of every error the IDS client raises."""


class IDSConnectorUnreachable(IDSError, ConnectionError):
    """No answer from a connector after all retries (down, wrong host/port, or timed out)."""

    def __init__(self, url: str, attempts: int, cause: BaseException | str) -> None:
        self.url = url
        self.attempts = attempts
        super().__init__(
            f"IDS connector unreachable at {url} after {attempts} attempt(s): {cause}. "
            "Check that the connector runs and IDS_*_HOST / IDS_*_PORT point to it."
        )


class IDSTLSError(IDSError, ConnectionError):
    """The connector's certificate failed verification (IDS_VERIFY_TLS is on)."""

    def __init__(self, url: str, cause: BaseException) -> None:
        self.url = url
        super().__init__(
            f"TLS verification failed for {url}: {cause}. Connectors usually have self-signed "
            "certificates: set IDS_VERIFY_TLS to their CA bundle's path, or to false."
        )


class IDSAuthenticationError(IDSError, PermissionError):
    """The connector refused the credentials (or locked this address after failed logins)."""

    def __init__(self, url: str, user: str, detail: str) -> None:
        self.url = url
        self.user = user
        super().__init__(
            f"IDS connector at {url} refused the credentials of user {user!r}: {detail.strip()} "
            "Check IDS_CONNECTOR_USER/IDS_CONNECTOR_PASSWORD (data app) or "
            "IDS_API_USER/IDS_API_PASSWORD (self-description API)."
        )


class IDSLockedOut(IDSError, PermissionError):
    """A connector locked a login out after too many failed logins: retrying now cannot help."""

    def __init__(self, url: str, retry_after: int | None, detail: str) -> None:
        self.url = url
        self.retry_after = retry_after
        wait = f"Retry-After: {retry_after} s" if retry_after is not None else "no Retry-After"
        super().__init__(
            f"IDS login locked out at {url} ({wait}): {detail.strip()} "
            "Fix the login named there, then wait for the lock to expire or restart that connector."
        )


class IDSResourceNotFound(IDSError, LookupError):
    """No offered resource has the requested title."""

    def __init__(self, title: str, available: list[str], where: str) -> None:
        self.title = title
        self.available = available
        listing = ", ".join(repr(t) for t in available) if available else "none"
        super().__init__(
            f"No resource titled {title!r} is offered by {where}. Titles offered: {listing}."
        )


class IDSRejected(IDSError):
    """The provider rejected a message (`Rejection occured with reason: ...`) or it was refused."""

    def __init__(self, step: str, url: str, status: int, body: str) -> None:
        self.step = step
        self.url = url
        self.status = status
        self.body = body.strip()
        prefix = "Rejection occured with reason: "
        self.reason = self.body[len(prefix):] if self.body.startswith(prefix) else None
        super().__init__(f"IDS step '{step}' failed at {url}: HTTP {status}: {self.body[:500]}")


class IDSProtocolError(IDSError):
    """An answer that does not have the shape the TRUE Connector protocol defines."""

    def __init__(self, step: str, detail: str) -> None:
        self.step = step
        super().__init__(f"Unexpected answer in IDS step '{step}': {detail}")
