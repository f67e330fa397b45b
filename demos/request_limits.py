"""HTTP request limits of the demo, enforced before Gradio parses anything (an ASGI middleware).

An API client can send anything: a 200 MB string as the composer would otherwise be read, parsed
and echoed back in an error. ``RequestLimits`` wraps the app and, for every request with a body:

- refuses a body over the limit (413) from its ``Content-Length`` alone, or while it arrives when
  the client sends none: an upload may have ``max_upload_bytes`` plus ``max_request_bytes`` (the
  form around the file), any other request ``max_request_bytes``;
- refuses a JSON body any of whose strings (composer, blend, instruments, file names and paths,
  ...) is longer than ``max_text_chars``, and an upload whose file name is longer than
  ``max_name_chars`` (422);
- quotes at most ``muse.core.ranges.QUOTE_CHARS`` (80) characters of what was sent in its messages.

All limits come from ``demos.limits.DemoLimits``, the demo's one place for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from demos.limits import DemoLimits
from muse.core.ranges import quote

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

_FILENAME = re.compile(rb'filename\*?="?([^"\r\n;]*)', re.IGNORECASE)


class RequestRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RequestLimits:
    """ASGI middleware: ``RequestLimits(app, limits=DemoLimits())``."""

    def __init__(self, app: ASGIApp, limits: DemoLimits | None = None) -> None:
        self.app = app
        self.limits = limits or DemoLimits()

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        upload = "/upload" in scope.get("path", "")
        limit = self.limits.max_request_bytes + (self.limits.max_upload_bytes if upload else 0)
        try:
            body = await self._read_body(scope, receive, limit)
            self._check_body(scope, body, upload)
        except RequestRefused as refused:
            await _refuse(send, refused.status, str(refused))
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, scope: Scope, receive: Callable[[], Awaitable[Message]], limit: int) -> bytes:
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise RequestRefused(400, "invalid Content-Length header") from None
            if size > limit:
                raise RequestRefused(413, f"the request has {size:,} bytes, over the maximum allowed size of "
                                          f"{limit:,} bytes")
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestRefused(400, "the client disconnected")
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > limit:
                raise RequestRefused(413, f"the request is over the maximum allowed size of {limit:,} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _check_body(self, scope: Scope, body: bytes, upload: bool) -> None:
        headers = dict(scope.get("headers") or [])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if upload or kind == b"multipart/form-data":
            for name in _FILENAME.findall(body[: 64 * 1024] if not upload else body):
                if len(name) > self.limits.max_name_chars:
                    text = name.decode("utf-8", "replace")
                    raise RequestRefused(422, f"file name {quote(text)} is too long (at most "
                                              f"{self.limits.max_name_chars} characters)")
            return
        if kind != b"application/json" or not body:
            return
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return  # not ours to judge: the app answers malformed JSON itself
        _check_strings(data, self.limits.max_text_chars)


def _check_strings(data: Any, limit: int, depth: int = 0) -> None:
    if depth > 32:
        raise RequestRefused(422, "the request is nested too deeply")
    if isinstance(data, str):
        if len(data) > limit:
            raise RequestRefused(422, f"text field {quote(data)} is too long (at most {limit:,} characters)")
    elif isinstance(data, dict):
        for key, value in data.items():
            _check_strings(key, limit, depth + 1)
            _check_strings(value, limit, depth + 1)
    elif isinstance(data, list):
        for value in data:
            _check_strings(value, limit, depth + 1)


def _replay(body: bytes, receive: Callable[[], Awaitable[Message]]) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later messages (e.g. http.disconnect) come from the client

    return replayed


async def _refuse(send: Callable[[Message], Awaitable[None]], status: int, message: str) -> None:
    payload = json.dumps({"error": message, "detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def launch_options(limits: DemoLimits) -> dict[str, Any]:
    """The ``gr.Blocks.launch`` keyword arguments that apply ``limits`` to every HTTP request."""
    from starlette.middleware import Middleware

    return {"max_file_size": limits.max_upload_bytes,
            "app_kwargs": {"middleware": [Middleware(RequestLimits, limits=limits)]}}


__all__ = ["RequestLimits", "launch_options"]
