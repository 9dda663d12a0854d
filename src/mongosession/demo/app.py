"""The demo application: an account page with "where you're signed in", updated live.

A small Starlette app over :class:`~mongosession.AsyncMongoStore` and the ASGI
middleware with ``record_devices=True``. Any name signs in (there are no passwords:
it shows sessions, not authentication); signing in regenerates the session id, as it
should. The page lists the user's sessions with the session's own helpers
(``devices()``, ``revoke_device(handle)``, ``revoke_other_devices()``): browser and
OS, IP, when signed in and last active, "this device", Revoke. Sessions are named
by opaque handles; no session id is ever written into a page.

Routes: ``/`` (the page), ``/devices`` (its list, for the live script), ``/events``
(server-sent events, :mod:`mongosession.demo.live`), and the POST forms ``/login``,
``/logout``, ``/revoke``, ``/revoke-others``. Every POST must come from the demo's
own pages (:class:`SameOriginPosts`); every error is a styled page (:class:`StyledErrors`
turns the middleware's plain-text 503 into one).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from mongosession import AsyncMongoStore
from mongosession._clock import now
from mongosession.asgi import SessionMiddleware, get_session
from mongosession.demo import pages
from mongosession.demo.live import EventsEndpoint, LiveFeed
from mongosession.web.config import SessionConfig

#: The path of the server-sent events: outside the session middleware (``skip``).
EVENTS_PATH = "/events"

Scope = dict[str, Any]
ASGIApp = Callable[..., Any]


def html_page(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page with the demo's security headers (CSP with the inline hashes, no-store)."""
    return HTMLResponse(
        body, status_code=status, headers={**pages.SECURITY_HEADERS, **(headers or {})}
    )


def _live_state(request: Request) -> pages.LiveState:
    feed: LiveFeed = request.app.state.live
    return "off" if feed.state == "off" else "on" if feed.state == "on" else "unknown"


def _ends(request: Request) -> str:
    # When the cookie (and so the session) runs out unless used again.
    expires = get_session(request).cookie.expires
    return pages.ahead(expires, now()) if expires is not None else "when the browser closes"


async def home(request: Request) -> Response:
    session = get_session(request)
    session["visits"] = int(session.get("visits", 0)) + 1
    flash = session.pop("flash", None)
    user = session.get("user")
    visits = session["visits"]
    if user is None:
        return html_page(pages.signed_out_page(visits, _ends(request), flash))
    devices = await session.devices()
    page = pages.account_page(
        str(user),
        visits,
        _ends(request),
        devices,
        now(),
        live=_live_state(request),
        flash=flash,
    )
    return html_page(page)


async def devices_fragment(request: Request) -> Response:
    """The list alone (the live script re-reads it); 401 when this device is signed out."""
    session = get_session(request)
    if session.get("user") is None:
        return html_page("", status=401)
    return html_page(pages.devices_panel(await session.devices(), now()))


async def login(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("user", "")).strip()[:64]
    if name:
        session = get_session(request)
        await session.regenerate()  # a new id at every privilege change
        session["user"] = name
    return RedirectResponse("/", status_code=303)


async def logout(request: Request) -> Response:
    await get_session(request).destroy()
    return RedirectResponse("/", status_code=303)


async def revoke(request: Request) -> Response:
    """End one of this user's sessions, named by its handle (never by its id).

    The page's script posts with ``x-demo-fetch``: the answer is then 204 and the
    page learns of the end from its event stream; a plain form gets the page again.
    """
    handle = str((await request.form()).get("handle", ""))
    session = get_session(request)
    background = request.headers.get("x-demo-fetch") == "1"
    if session.get("user") is None:
        return RedirectResponse("/", status_code=303)
    target = next((d for d in await session.devices() if d.handle == handle), None)
    if target is not None and target.current:  # this device: a sign-out (clears the cookie)
        await session.destroy()
        return RedirectResponse("/", status_code=303)
    ended = target is not None and await session.revoke_device(handle)
    if background:
        return Response(status_code=204)
    if ended and target is not None:
        session["flash"] = f"Signed out {pages.describe(target)}."
    else:
        session["flash"] = "That session had already ended."
    return RedirectResponse("/", status_code=303)


async def revoke_others(request: Request) -> Response:
    session = get_session(request)
    if session.get("user") is not None:
        ended = await session.revoke_other_devices()
        noun = "session" if ended == 1 else "sessions"
        session["flash"] = f"Signed out everywhere else ({ended} {noun})."
    return RedirectResponse("/", status_code=303)


async def old_sessions_page(request: Request) -> Response:
    # The list used to have a page of its own.
    return RedirectResponse("/", status_code=303)


async def http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and the like (Starlette's), and any error of a handler (500), styled."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    return html_page(pages.error_page(status), status=status, headers=headers)


class SameOriginPosts:
    """Refuse (403) a POST that a browser says comes from another site: the demo's CSRF guard.

    A browser's ``Sec-Fetch-Site`` must be ``same-origin`` (or ``none``: typed by the
    user); without it, an ``Origin`` header must be this server's own. A request with
    neither (curl, scripts, old browsers) passes: it cannot be a cross-site form of a
    browser that sends neither header, and the session cookie's ``SameSite=Lax``
    keeps it from other sites' POSTs anyway. Outside the session middleware, so a
    refused POST costs no database command.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        changes = scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS")
        if changes and not same_origin(scope):
            response = html_page(pages.error_page(403), status=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def same_origin(scope: Scope) -> bool:
    """Whether a request's ``Sec-Fetch-Site`` and ``Origin`` allow a change (see above)."""
    headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    return bool(origin == f"{scope.get('scheme', 'http')}://{host}")


class StyledErrors:
    """A plain-text error response (the session middleware's 503, 409, 403) as a styled page.

    The middleware answers for the application when the store cannot: 503 while
    MongoDB is down (it fails closed). Its headers are kept (``Cache-Control``, a
    cleared cookie); its text becomes the page's detail line.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] | None = None
        text = b""

        async def restyle(message: dict[str, Any]) -> None:
            nonlocal held, text
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                plain = headers.get(b"content-type", b"").startswith(b"text/plain")
                if message["status"] >= 400 and plain and scope["path"] != EVENTS_PATH:
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                text += message.get("body", b"")
                if message.get("more_body", False):
                    return
                await self._send_page(send, held, text.decode("utf-8", "replace"))
                return
            await send(message)

        await self.app(scope, receive, restyle)

    @staticmethod
    async def _send_page(send: Any, start: dict[str, Any], detail: str) -> None:
        status = start["status"]
        body = pages.error_page(status, detail).encode()
        kept = [
            (name, value)
            for name, value in start.get("headers", [])
            if name not in (b"content-type", b"content-length", b"cache-control")
        ]
        extra = {**pages.SECURITY_HEADERS, "content-type": "text/html; charset=utf-8"}
        if status == 503:
            extra["retry-after"] = "10"
        headers = [
            *kept,
            *((name.encode(), value.encode()) for name, value in extra.items()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def create_app(
    store: AsyncMongoStore,
    secret: str | list[str],
    *,
    announce: Callable[[str], object] | None = None,
    **options: Any,
) -> Starlette:
    """The demo app over ``store`` (which needs ``user_key="user"``).

    ``options`` are the session options (``record_devices`` is on unless given);
    ``announce`` is told in one line at start-up whether live updates are on.
    """
    options.setdefault("record_devices", True)
    feed = LiveFeed(store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = await feed.probe()
        if announce is not None:
            announce(
                f"live updates: off ({feed.reason})"
                if state == "off"
                else "live updates: on (change streams)"
                if state == "on"
                else "live updates: not checked yet (the database did not answer)"
            )
        yield
        await feed.stop()

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/devices", devices_fragment),
            Route(EVENTS_PATH, EventsEndpoint()),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/revoke", revoke, methods=["POST"]),
            Route("/revoke-others", revoke_others, methods=["POST"]),
            Route("/sessions", old_sessions_page),
        ],
        exception_handlers={HTTPException: http_error, Exception: http_error},
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.live = feed
    app.state.session_config = SessionConfig.from_options(secret, options)
    # Innermost first: the sessions, then the same-origin guard, then the styled errors.
    app.add_middleware(
        SessionMiddleware,
        store=store,
        secret=secret,
        skip=lambda scope: scope["path"] == EVENTS_PATH,
        **options,
    )
    app.add_middleware(SameOriginPosts)
    app.add_middleware(StyledErrors)
    return app
