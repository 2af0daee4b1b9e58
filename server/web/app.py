"""The investigator's web app (Starlette): one page shell, its static assets, and /api/<name>
calls that go through the gateway to the gRPC server (server.web.gateway).

Sign-in: POST /api/login answers with the user's identity and sets the session token as a
cookie (HttpOnly, SameSite=Strict, Secure over TLS, no Max-Age: it ends with the browser or
the server's idle/absolute expiry, whichever is first). Page scripts never see the token.
Every POST must carry X-CSRF-Token, an HMAC of the session token under a key that lives only
in this process (given by /api/whoami and /api/login), be JSON, and come from this origin.
Which roles may call which method is the gRPC server's rule (trust.roles.RPC_RULES); the
pages hide what a role may not do, and the server refuses it anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from starlette.applications import Starlette
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.rpc import recall_pb2 as rpb
from server.web.gateway import (
    EXPORT_RPC,
    ROUTES,
    BadRequest,
    Gateway,
    export_request,
    http_status,
)

__all__ = ["COOKIE", "PAGES", "STATIC", "create_app"]

STATIC = Path(__file__).resolve().parent.parent / "static"
"""The built front end (web/ bundled by esbuild) and the page shell."""
COOKIE = "tracegraph_session"
PAGES = ("/", "/login", "/find", "/trace", "/impact", "/dhr", "/recall", "/recall/{id:int}",
         "/corrections", "/audit", "/kpi")
"""Paths that answer with the page shell; the script renders the page the path names."""
_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; "
                                 b"style-src 'self'; frame-ancestors 'none'; "
                                 b"base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_MAX_BODY = 64 * 1024


class _SecurityHeaders:
    """Every answer: a strict content security policy (scripts and styles from this server
    only), no sniffing, no framing, no referrer; API answers are never cached."""

    def __init__(self, app: ASGIApp, secure: bool = False) -> None:
        self.app = app
        # Over TLS: browsers keep to HTTPS for this host for a year (HSTS).
        self.extra = [(b"strict-transport-security", b"max-age=31536000")] if secure else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_HEADERS)
                headers.extend(self.extra)
                if api:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


def create_app(gateway: Gateway, *, no_auth: bool = False, secure: bool = False,
               static: Path = STATIC) -> Starlette:
    """The app over `gateway`. `no_auth`: the gRPC server signs nobody in (loopback only);
    `secure`: served over TLS (the cookie is then Secure)."""
    key = secrets.token_bytes(32)

    def csrf(token: str | None) -> str:
        return hmac.new(key, (token or "no-auth").encode(), hashlib.sha256).hexdigest()

    def error(status: int, message: str, code: str) -> JSONResponse:
        return JSONResponse({"error": message, "code": code}, status_code=status)

    async def api(request: Request) -> Response:
        route = ROUTES.get(request.path_params["name"])
        if route is None:
            return error(404, f"no such call: {request.path_params['name']}", "NOT_FOUND")
        if route.post != (request.method == "POST"):
            return error(405, f"{route.name} takes {'POST' if route.post else 'GET'}",
                         "METHOD_NOT_ALLOWED")
        token = request.cookies.get(COOKIE)
        # A change reads its JSON body only: nothing of it (a password) rides in the URL.
        params: dict[str, str] = {} if route.post else dict(request.query_params)
        if route.post:
            refused = _refused_post(request, None if route.name == "login" else csrf(token))
            if refused is not None:
                return refused
            body = await request.body()
            if len(body) > _MAX_BODY:
                return error(413, "the request body is too large", "TOO_LARGE")
            try:
                given = json.loads(body or b"{}")
            except ValueError:
                return error(400, "the request body is not JSON", "INVALID_ARGUMENT")
            if not isinstance(given, dict):
                return error(400, "the request body must be a JSON object",
                             "INVALID_ARGUMENT")
            params.update({k: str(v) for k, v in given.items() if isinstance(v, str | int)})
        try:
            answer = await run_in_threadpool(gateway.call, route, params,
                                             None if no_auth else token)
        except BadRequest as e:
            return error(400, str(e), "INVALID_ARGUMENT")
        except grpc.RpcError as e:
            if route.name == "whoami" and e.code() == grpc.StatusCode.UNAUTHENTICATED:
                # Asking is not an error: the page then offers sign-in.
                response = JSONResponse({"signed_in": False, "reason": e.details()})
                response.delete_cookie(COOKIE, path="/")
                return response
            if route.signs and e.code() == grpc.StatusCode.UNAUTHENTICATED:
                # The re-entered password was refused (and audited), not the session.
                return error(403, f"signature refused: {e.details()}", "SIGNATURE_REFUSED")
            return _refusal(e)
        return _answer(route.name, answer, csrf, token, no_auth, secure)

    async def download(request: Request) -> Response:
        """A recall case's consignee list as a file (Recalls.Export), streamed from the
        server to the browser's download: the page never holds it."""
        token = request.cookies.get(COOKIE)
        try:
            wanted = export_request(dict(request.query_params))
        except BadRequest as e:
            return error(400, str(e), "INVALID_ARGUMENT")

        def first_chunk() -> tuple[Iterator[Any], Any]:
            chunks = iter(gateway.stream(EXPORT_RPC, wanted, rpb.ExportChunk,
                                         None if no_auth else token))
            return chunks, next(chunks)

        try:
            chunks, first = await run_in_threadpool(first_chunk)
        except grpc.RpcError as e:  # refused before a byte is sent: a readable error
            return _refusal(e)

        async def body() -> AsyncIterator[bytes]:
            yield first.data
            async for chunk in iterate_in_threadpool(chunks):
                yield chunk.data

        name = "".join(c for c in first.filename if c.isalnum() or c in "-_.") or "export"
        return StreamingResponse(body(), media_type=first.media_type, headers={
            "content-disposition": f'attachment; filename="{name}"'})

    async def page(request: Request) -> Response:
        return FileResponse(static / "index.html", media_type="text/html")

    routes: list[BaseRoute] = [Route(path, page) for path in PAGES]
    routes += [Route("/api/download/recall", download),
               Route("/api/{name}", api, methods=["GET", "POST"]),
               Mount("/static", StaticFiles(directory=static), name="static")]

    async def not_found(request: Request, exc: Exception) -> Response:
        # A mistyped page still gets the shell, which says so (and keeps the navigation).
        if request.url.path.startswith(("/api/", "/static/")):
            return error(404, f"nothing at {request.url.path}", "NOT_FOUND")
        return FileResponse(static / "index.html", status_code=404, media_type="text/html")

    app = Starlette(routes=routes, exception_handlers={404: not_found})
    app.add_middleware(_SecurityHeaders, secure=secure)
    return app


def _refusal(e: grpc.RpcError) -> JSONResponse:
    """What the gRPC server refused, as the HTTP answer a browser understands; an ended
    session also clears its cookie."""
    code = e.code()
    response = JSONResponse({"error": e.details() or code.name, "code": code.name},
                            status_code=http_status(code))
    if code == grpc.StatusCode.UNAUTHENTICATED:
        response.delete_cookie(COOKIE, path="/")
    return response


def _refused_post(request: Request, expected_csrf: str | None) -> Response | None:
    """A change must be JSON from this origin with the session's CSRF token: a page on
    another site can send none of those (SameSite=Strict keeps the cookie from it too)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return JSONResponse({"error": "send JSON (Content-Type: application/json)",
                             "code": "UNSUPPORTED_MEDIA_TYPE"}, status_code=415)
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None and origin.split("://", 1)[-1] != host:
        return JSONResponse({"error": "cross-origin request refused", "code": "FORBIDDEN"},
                            status_code=403)
    if expected_csrf is not None and not hmac.compare_digest(
            request.headers.get("x-csrf-token", ""), expected_csrf):
        return JSONResponse({"error": "missing or wrong CSRF token: reload the page",
                             "code": "FORBIDDEN"}, status_code=403)
    return None


def _answer(name: str, answer: dict[str, Any], csrf: Callable[[str | None], str],
            token: str | None, no_auth: bool, secure: bool) -> JSONResponse:
    """The JSON answer; sign-in and sign-out also set or clear the cookie (the token itself
    never reaches the page)."""
    if name == "login":
        token = answer.pop("token")
        response = JSONResponse({**answer, "csrf": csrf(token)})
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure,
                            path="/")
        return response
    if name == "logout":
        response = JSONResponse(answer)
        response.delete_cookie(COOKIE, path="/")
        return response
    if name == "whoami":
        return JSONResponse({**answer, "csrf": csrf(None if no_auth else token),
                             "no_auth": no_auth, "signed_in": True})
    return JSONResponse(answer)
