"""Request guard: refuse NUL characters before they reach handlers or the database.

PostgreSQL cannot store NUL in text and SQLite truncates at it, so a NUL anywhere in the path, the
query string or a JSON/form body is answered with 422 and a reason, whatever the endpoint. Multipart
uploads carry binary files and are left to their handlers, which check each text field they use.
"""

from __future__ import annotations

import json

_BODY_MARKERS = (b"\x00", b"\\u0000", b"%00")
_TEXT_BODIES = (b"application/json", b"application/x-www-form-urlencoded", b"application/geo+json", b"text/plain", b"")


class NulGuard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        if b"\x00" in raw_path or b"%00" in raw_path or b"%00" in scope.get("query_string", b""):
            return await _refuse(send, "NUL characters are not allowed in the path or query")
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"").split(b";")[0].strip().lower()
        if scope["method"] not in ("POST", "PUT", "PATCH") or content_type not in _TEXT_BODIES:
            return await self.app(scope, receive, send)  # binary uploads (multipart) legitimately hold NULs
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if any(m in body for m in _BODY_MARKERS):
            return await _refuse(send, "NUL characters are not allowed in the request body")
        replay = iter(messages)

        async def receive_again():
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        return await self.app(scope, receive_again, send)


async def _refuse(send, reason: str) -> None:
    body = json.dumps({"detail": reason, "code": "nul_character"}).encode()
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
