"""Refuses request bodies over the upload limit before they are read (413)."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Multipart framing and form fields around the file.
SLACK = 64 * 1024


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int, max_mb: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + SLACK
        self.max_mb = max_mb

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"the upload is larger than the {self.max_mb} MB limit"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        received, too_large, refused = 0, False, False

        async def limited() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise BodyTooLarge()
            return message

        async def guarded(message: Message) -> None:
            # A body without Content-Length (chunked) goes over the limit while the app reads
            # it; the framework may turn our exception into its own 400. Answer 413 instead.
            nonlocal refused
            if not too_large:
                await send(message)
            elif not refused and message["type"] == "http.response.start":
                refused = True
                await self._refuse(send)

        try:
            await self.app(scope, limited, guarded)
        except BodyTooLarge:
            if not refused:
                await self._refuse(send)


class BodyTooLarge(Exception):
    pass
