"""The demo application: a visit counter, a login form, and "my sessions".

A small Starlette app over :class:`~mongosession.AsyncMongoStore` and the ASGI
middleware. Any name logs in (there are no passwords: it shows sessions, not
authentication); logging in regenerates the session id, as it should.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from mongosession import AsyncMongoStore
from mongosession._clock import now
from mongosession.asgi import SessionMiddleware, get_session

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mongosession demo</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; line-height: 1.5 }}
table {{ border-collapse: collapse }} td, th {{ padding: .2rem .6rem; border-bottom: 1px solid #ddd }}
code {{ background: #f4f4f4; padding: 0 .2rem }}
</style></head>
<body><h1>mongosession demo</h1>{body}</body></html>"""


def page(body: str) -> HTMLResponse:
    return HTMLResponse(PAGE.format(body=body))


def short(sid: str) -> str:
    return html.escape(sid[:8]) + "…"


async def home(request: Request) -> Response:
    session = get_session(request)
    session["visits"] = session.get("visits", 0) + 1
    user = session.get("user")
    visits = f'<p>Visits in this session: <strong id="visits">{session["visits"]}</strong></p>'
    if user is None:
        body = (
            visits
            + '<p id="status">Not logged in.</p>'
            + '<form method="post" action="/login"><label>Name <input name="user" id="user" '
            + 'required maxlength="64"></label> <button id="login">Log in</button></form>'
        )
    else:
        body = (
            visits
            + f'<p id="status">Logged in as <strong id="who">{html.escape(str(user))}</strong>.</p>'
            + '<p><a href="/sessions" id="my-sessions">My sessions</a></p>'
            + '<form method="post" action="/logout"><button id="logout">Log out</button></form>'
        )
    body += f"<p><small>Session <code>{short(session.id)}</code></small></p>"
    return page(body)


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


def _store(request: Request) -> AsyncMongoStore:
    store: AsyncMongoStore = request.app.state.store
    return store


async def sessions(request: Request) -> Response:
    session = get_session(request)
    user = session.get("user")
    if user is None:
        return RedirectResponse("/", status_code=303)
    mine = await _store(request).sessions_of(user)
    rows = []
    for sid, data in sorted(mine.items(), key=lambda item: item[0] != session.id):
        current = sid == session.id
        expires: Any = getattr(data, "expires", None)
        left = f"{int((expires - now()).total_seconds() // 60)} min" if expires else "—"
        action = (
            "this browser"
            if current
            else f'<form method="post" action="/revoke"><input type="hidden" name="sid" '
            f'value="{html.escape(sid)}"><button class="revoke">Revoke</button></form>'
        )
        rows.append(
            f"<tr><td><code>{short(sid)}</code></td><td>{data.get('visits', 0)}</td>"
            f"<td>{left}</td><td>{action}</td></tr>"
        )
    body = (
        f"<p>Sessions of <strong>{html.escape(str(user))}</strong>: "
        f'<span id="count">{len(mine)}</span></p>'
        "<table><tr><th>session</th><th>visits</th><th>expires in</th><th></th></tr>"
        + "".join(rows)
        + "</table>"
        '<form method="post" action="/revoke-others"><button id="revoke-others">'
        "Log out all other sessions</button></form>"
        '<p><a href="/">Back</a></p>'
    )
    return page(body)


async def revoke(request: Request) -> Response:
    user = get_session(request).get("user")
    sid = str((await request.form()).get("sid", ""))
    store = _store(request)
    # Only this user's own sessions can be revoked from here.
    if user is not None and sid in await store.sessions_of(user):
        await store.destroy(sid)
    return RedirectResponse("/sessions", status_code=303)


async def revoke_others(request: Request) -> Response:
    session = get_session(request)
    user = session.get("user")
    if user is not None:
        await _store(request).destroy_user(user, keep=session.id)
    return RedirectResponse("/sessions", status_code=303)


def create_app(store: AsyncMongoStore, secret: str | list[str], **options: Any) -> Starlette:
    """The demo app over ``store`` (which needs ``user_key="user"``)."""
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/sessions", sessions),
            Route("/revoke", revoke, methods=["POST"]),
            Route("/revoke-others", revoke_others, methods=["POST"]),
        ]
    )
    app.state.store = store
    app.add_middleware(SessionMiddleware, store=store, secret=secret, **options)
    return app
