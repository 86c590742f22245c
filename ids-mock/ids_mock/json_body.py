"""Parse a request body that must be one JSON object, with a reason a client can act on."""

from __future__ import annotations

import json
from typing import Any


class BadJsonBody(ValueError):
    """The body is not UTF-8, not JSON, or not a JSON object."""


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadJsonBody("The body is not valid UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise BadJsonBody(f"The body is not valid JSON: {exc.msg} at position {exc.pos}.") from exc
    if not isinstance(data, dict):
        raise BadJsonBody("The body must be a JSON object.")
    return data
