"""HTTP basic auth in front of the model server: every route but the health checks asks for the login.

Off unless MODEL_SERVER_AUTH_PASSWORD is set (the stack sets it with MODEL_SERVER_AUTH=basic, which
`make up` requires beyond loopback). The health routes stay open, so that readiness checks and the
container's health check need no secret; they tell nothing about the models beyond their versions.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass

# Answered without a login: liveness and readiness checks.
OPEN_PATHS = frozenset({"/health", "/ping", "/version"})


@dataclass(frozen=True)
class Login:
    user: str
    password: str

    def accepts(self, authorization: bytes) -> bool:
        """Whether an Authorization header carries this login (compared in constant time)."""
        scheme, _, encoded = authorization.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        # Both compared, always: how long a refusal takes says nothing about which part was wrong.
        user_ok = hmac.compare_digest(user, self.user.encode())
        password_ok = hmac.compare_digest(password, self.password.encode())
        return bool(sep) and user_ok and password_ok


async def _refuse(send) -> None:
    body = json.dumps({"error_code": "UNAUTHENTICATED",
                       "message": "this model server asks for a login: HTTP basic auth with "
                                  "MODEL_SERVER_AUTH_USER and MODEL_SERVER_AUTH_PASSWORD of .env"
                       }).encode()
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Basic realm="model-server"')]})
    await send({"type": "http.response.body", "body": body})


def require_login(app, login: Login | None):
    """`app` (ASGI) behind `login`; `app` itself when there is none."""
    if login is None:
        return app

    async def guarded(scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            authorization = next((value for name, value in scope["headers"]
                                  if name == b"authorization"), b"")
            if not login.accepts(authorization):
                await _refuse(send)
                return
        await app(scope, receive, send)

    return guarded
