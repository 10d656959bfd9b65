"""What a request body must be before the resolver reads it.

The resolver answers a JSON body it cannot validate with a 422, but some
bodies break it instead, and each was a 500 found by fuzzing (issue 9):

* a content type other than JSON (``text/plain``, ``application/xml``, a
  ``multipart/form-data`` without a boundary) → 415; a form-encoded body
  was even parsed as fields, so JSON is now the only body the API reads;
* JSON nested deeper than the decoder's recursion limit → 422;
* a string holding a lone UTF-16 surrogate (``"\\ud800"``), valid JSON
  that no UTF-8 store or response can hold → 422;
* a body over ``MAX_BODY_BYTES`` → 413, on Lambda as on the local server
  (API Gateway itself would pass up to 10 MB).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from core.errors import InvalidInput, PushpoolError

MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 64


class UnsupportedMediaType(PushpoolError):
    status = 415


class BodyTooLarge(PushpoolError):
    status = 413


def _content_type(event: dict[str, Any]) -> str:
    for name, value in (event.get("headers") or {}).items():
        if str(name).lower() == "content-type":
            return str(value).split(";", 1)[0].strip().lower()
    return ""


def _is_json(media_type: str) -> bool:
    return media_type in {"", "application/json"} or media_type.endswith("+json")


def _text(event: dict[str, Any]) -> str:
    body = str(event["body"])
    if not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("the request body is not UTF-8 JSON") from exc


def _depth(value: Any) -> int:
    """How deeply ``value`` nests, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def check_body(event: dict[str, Any], *, limit: int = MAX_BODY_BYTES) -> None:
    """Raise the error a client can act on for a body the API cannot read."""
    if not event.get("body"):
        return
    media_type = _content_type(event)
    if not _is_json(media_type):
        raise UnsupportedMediaType(
            f"the request body is {media_type!r}; send JSON with 'Content-Type: application/json'"
        )
    text = _text(event)
    if len(text.encode("utf-8", "surrogatepass")) > limit:
        raise BodyTooLarge(f"the request body is larger than {limit} bytes")
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise InvalidInput(f"the request body nests deeper than {MAX_DEPTH} levels") from exc
    except ValueError:
        return  # the resolver answers malformed JSON with its own 422
    if _depth(value) > MAX_DEPTH:
        raise InvalidInput(f"the request body nests deeper than {MAX_DEPTH} levels")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            "the request body holds a lone UTF-16 surrogate (such as \\ud800), "
            "which is not a character; send valid Unicode text"
        ) from exc
