"""Basic authentication of every endpoint, with lockout of a user at an address after failed logins."""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class _Attempts:
    failures: int = 0
    locked_until: float = 0.0


# Who is locked out: one of this connector's own users, logging in from one client address.
Login = tuple[str, str]  # (user, address)


@dataclass
class LockoutTracker:
    """Counts failed logins per (user, client address) and locks that pair out, like the real ECC.

    Only this connector's own users are counted: a login it does not have (another connector's,
    forwarded to the wrong place) fails without locking anyone out. One tracker is shared by both
    ports of a process.
    """

    max_failures: int
    lock_seconds: float
    clock: Callable[[], float] = time.monotonic
    _by_login: dict[Login, _Attempts] = field(default_factory=dict)

    def seconds_locked(self, login: Login) -> float:
        """Seconds the login stays locked out, 0 when it may try again."""
        attempts = self._by_login.get(login)
        if attempts is None:
            return 0.0
        remaining = attempts.locked_until - self.clock()
        if remaining > 0:
            return remaining
        if attempts.locked_until:
            # The lock expired: the login starts again with a clean slate.
            del self._by_login[login]
        return 0.0

    def record_failure(self, login: Login) -> None:
        attempts = self._by_login.setdefault(login, _Attempts())
        attempts.failures += 1
        if self.max_failures > 0 and attempts.failures >= self.max_failures:
            attempts.locked_until = self.clock() + self.lock_seconds

    def record_success(self, login: Login) -> None:
        self._by_login.pop(login, None)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Return (user, password) from an `Authorization: Basic ...` header, None if it is not one."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class BasicAuthMiddleware:
    """ASGI middleware: 401 unless the request carries the expected Basic credentials.

    A request without credentials gets the challenge and is not counted as a failure (browsers and
    HTTP clients send one before they authenticate); a wrong password for this port's user counts
    towards that user's lockout at the client's address; an unknown user never counts.
    """

    def __init__(self, app: ASGIApp, user: str, password: str, lockout: LockoutTracker) -> None:
        self.app = app
        self.user = user
        self.password = password
        self.lockout = lockout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        credentials = parse_basic(headers.get("authorization"))
        if credentials is None:
            await _reject(send, "Authentication required.")
            return
        user, password = credentials
        # Both comparisons always run, so timing does not tell which part was wrong.
        user_ok = _same(user, self.user)
        password_ok = _same(password, self.password)
        if not user_ok:
            await _reject(send, "Bad credentials.")
            return
        login = (self.user, address)
        locked = self.lockout.seconds_locked(login)
        if locked > 0:
            minutes = max(1, round(locked / 60))
            await _reject(
                send,
                f"User {self.user!r} is locked at client address {address} after too many "
                f"failed logins; try again in about {minutes} minute(s).",
                retry_after=int(locked) + 1,
            )
            return
        if not password_ok:
            self.lockout.record_failure(login)
            await _reject(send, "Bad credentials.")
            return
        self.lockout.record_success(login)
        await self.app(scope, receive, send)


async def _reject(send: Send, message: str, retry_after: int | None = None) -> None:
    body = message.encode("utf-8")
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Basic realm="ids-mock"'),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
