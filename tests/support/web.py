"""One way to drive every adapter: a Site per framework, and a Browser over any Site.

A Site sends one request with an explicit ``Cookie`` header through the
framework's own test client (Starlette's TestClient for ASGI, Flask's,
Django's, aiohttp's, Litestar's, Quart's) or over real HTTP, and returns a :class:`Reply`. The
:class:`Browser` keeps the cookies between requests, the way a browser does,
so the behaviour suite reads the same for every framework.

The ``Served*`` classes run each adapter's app on a real server in this process
(werkzeug's threaded server for Flask and Django, uvicorn for ASGI and Litestar,
aiohttp's own for aiohttp, hypercorn for Quart), for tests that overlap requests or read real HTTP headers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any, Protocol, TypeVar

import httpx
import uvicorn
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient as AiohttpClient
from aiohttp.test_utils import TestServer
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig
from litestar.testing import TestClient as LitestarClient
from pymongo import AsyncMongoClient, MongoClient, monitoring
from starlette.testclient import TestClient as StarletteClient

from mongosession import AsyncMongoStore, MongoStore
from mongosession.testing.localdb import free_port
from mongosession.web.cookies import encode_component, sign
from tests.support.adapter_apps import (
    SECRET,
    aiohttp_app,
    configure_django,
    flask_app,
    litestar_app,
    quart_app,
)
from tests.support.apps import starlette_app
from tests.support.servers import serving_in_thread

#: Request headers, or session options, given to a Site (None: none).
Extra = Mapping[str, Any] | None
Listener = monitoring.CommandListener


@dataclass
class Reply:
    """A response: status, body text and headers (names in lower case)."""

    status: int
    text: str
    headers: list[tuple[str, str]]

    def all(self, name: str) -> list[str]:
        """Every value of header ``name``."""
        return [value for key, value in self.headers if key == name.lower()]

    @property
    def set_cookies(self) -> list[str]:
        return self.all("set-cookie")


def _is_clearing(attributes: Mapping[str, str], value: str) -> bool:
    expires = attributes.get("expires", "")
    return value in ("", '""') or attributes.get("max-age") == "0" or "1970" in expires


class Site(Protocol):
    """An application with the suite's routes behind one adapter."""

    cookie_name: str

    def request(
        self, method: str, path: str, cookie: str | None, headers: Extra = None
    ) -> Reply: ...

    def signed(self, sid: str) -> str:
        """The cookie value that presents session ``sid`` as this adapter issues it."""
        ...

    def tampered(self, value: str) -> str:
        """A well-formed cookie value no longer naming a valid session."""
        ...

    def close(self) -> None: ...


class Browser:
    """A cookie jar over a Site: Set-Cookie stores or clears, every request sends the jar."""

    def __init__(
        self,
        site: Site,
        cookies: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.site = site
        self.jar: dict[str, str] = dict(cookies or {})
        #: Sent with every request, as a browser sends its User-Agent.
        self.headers: dict[str, str] = dict(headers or {})

    @property
    def session_cookie(self) -> str | None:
        return self.jar.get(self.site.cookie_name)

    def replay(self, value: str) -> Browser:
        """A fresh browser presenting ``value`` as the session cookie."""
        return Browser(self.site, {self.site.cookie_name: value})

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str) -> Reply:
        return self.request("POST", path)

    def request(self, method: str, path: str) -> Reply:
        header = "; ".join(f"{k}={v}" for k, v in self.jar.items()) or None
        reply = self.site.request(method, path, header, self.headers)
        for line in reply.set_cookies:
            first, *rest = line.split(";")
            name, _, value = first.strip().partition("=")
            attributes = {}
            for item in rest:
                key, _, val = item.strip().partition("=")
                attributes[key.lower()] = val
            if _is_clearing(attributes, value):
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return reply


# -- the express-session cookie (ASGI, Flask, aiohttp) -------------------------------------


class SignedCookieSite:
    """Cookie helpers for the adapters that issue express-session's signed cookie."""

    cookie_name = "connect.sid"

    def signed(self, sid: str) -> str:
        return encode_component(sign(sid, SECRET))

    def tampered(self, value: str) -> str:
        last = value[-1]
        return value[:-1] + ("A" if last != "A" else "B")  # the signature no longer matches


def _with_cookie(cookie: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    """The request headers: ``headers``, and the cookie header when there is one."""
    sent = dict(headers or {})
    if cookie:
        sent["cookie"] = cookie
    return sent


def django_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Session options as the Django engine's settings (the device ones: docs/devices.md)."""
    names = {
        "record_devices": "MONGOSESSION_RECORD_DEVICES",
        "record_ip": "MONGOSESSION_RECORD_IP",
        "proxy": "MONGOSESSION_PROXY",
    }
    return {names[name]: value for name, value in (options or {}).items()}


def _headers(items: Any) -> list[tuple[str, str]]:
    return [(str(k).lower(), str(v)) for k, v in items]


class ASGISite(SignedCookieSite):
    """tests/support/apps.py's Starlette app through Starlette's TestClient."""

    def __init__(
        self, uri: str, listener: Listener, *, options: Extra = None, **store: Any
    ) -> None:
        self.mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri, event_listeners=[listener])
        app = starlette_app(AsyncMongoStore(client=self.mongo, **store), **(options or {}))
        # A handler's unhandled error is the server's 500, as on a real server.
        self.http = StarletteClient(app, raise_server_exceptions=False)
        self.http.__enter__()

    def request(self, method: str, path: str, cookie: str | None, headers: Extra = None) -> Reply:
        self.http.cookies.clear()
        response = self.http.request(
            method, path, headers=_with_cookie(cookie, headers), follow_redirects=False
        )
        return Reply(response.status_code, response.text, _headers(response.headers.multi_items()))

    def close(self) -> None:
        self.http.portal.call(self.mongo.close)  # type: ignore[union-attr]
        self.http.__exit__(None, None, None)


class FlaskSite(SignedCookieSite):
    """The Flask app through Flask's test client."""

    cookie_name = "session"  # Flask's SESSION_COOKIE_NAME, read by the extension

    def __init__(
        self, uri: str, listener: Listener, *, options: Extra = None, **store: Any
    ) -> None:
        self.mongo: MongoClient[Any] = MongoClient(uri, event_listeners=[listener])
        self.app = flask_app(MongoStore(client=self.mongo, **store), **(options or {}))
        self.http = self.app.test_client(use_cookies=False)

    def request(self, method: str, path: str, cookie: str | None, headers: Extra = None) -> Reply:
        response = self.http.open(path, method=method, headers=_with_cookie(cookie, headers))
        return Reply(
            response.status_code,
            response.get_data(as_text=True),
            _headers(response.headers.items()),
        )

    def close(self) -> None:
        self.mongo.close()


class AiohttpSite(SignedCookieSite):
    """The aiohttp app through aiohttp's TestClient (a real server on a loopback port)."""

    def __init__(
        self, uri: str, listener: Listener, *, options: Extra = None, **store: Any
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri, event_listeners=[listener])
        app = aiohttp_app(AsyncMongoStore(client=self.mongo, **store), **(options or {}))
        self.http = self.loop.run_until_complete(self._start(app))

    @staticmethod
    async def _start(app: Any) -> AiohttpClient[Any, Any]:
        client: AiohttpClient[Any, Any] = AiohttpClient(
            TestServer(app), cookie_jar=DummyCookieJar()
        )
        await client.start_server()
        return client

    def request(self, method: str, path: str, cookie: str | None, headers: Extra = None) -> Reply:
        return self.loop.run_until_complete(self._request(method, path, cookie, headers))

    async def _request(
        self, method: str, path: str, cookie: str | None, extra: Mapping[str, str] | None
    ) -> Reply:
        headers = _with_cookie(cookie, extra)
        async with self.http.request(method, path, headers=headers, allow_redirects=False) as r:
            return Reply(r.status, await r.text(), _headers(r.headers.items()))

    def close(self) -> None:
        self.loop.run_until_complete(self.http.close())
        self.loop.run_until_complete(self.mongo.close())
        self.loop.close()


class LitestarSite(SignedCookieSite):
    """The Litestar app (tests/support/adapter_apps.py) through Litestar's TestClient."""

    def __init__(
        self, uri: str, listener: Listener, *, options: Extra = None, **store: Any
    ) -> None:
        self.mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri, event_listeners=[listener])
        app = litestar_app(AsyncMongoStore(client=self.mongo, **store), **(options or {}))
        # A handler's unhandled error is Litestar's own 500, as on a real server.
        self.http: LitestarClient[Any] = LitestarClient(app, raise_server_exceptions=False)
        self.http.__enter__()

    def request(self, method: str, path: str, cookie: str | None, headers: Extra = None) -> Reply:
        self.http.cookies.clear()
        response = self.http.request(
            method, path, headers=_with_cookie(cookie, headers), follow_redirects=False
        )
        return Reply(response.status_code, response.text, _headers(response.headers.multi_items()))

    def close(self) -> None:
        self.http.blocking_portal.call(self.mongo.close)
        self.http.__exit__(None, None, None)


class QuartSite(SignedCookieSite):
    """The Quart app (tests/support/adapter_apps.py) through Quart's test client, on its own loop."""

    cookie_name = "session"  # Quart's SESSION_COOKIE_NAME, read by the extension

    def __init__(
        self, uri: str, listener: Listener, *, options: Extra = None, **store: Any
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.mongo: AsyncMongoClient[Any] = AsyncMongoClient(uri, event_listeners=[listener])
        self.app = quart_app(AsyncMongoStore(client=self.mongo, **store), **(options or {}))
        self.http = self.app.test_client(use_cookies=False)

    def request(self, method: str, path: str, cookie: str | None, headers: Extra = None) -> Reply:
        return self.loop.run_until_complete(self._request(method, path, cookie, headers))

    async def _request(
        self, method: str, path: str, cookie: str | None, extra: Mapping[str, str] | None
    ) -> Reply:
        headers = _with_cookie(cookie, extra)
        response = await self.http.open(path, method=method, headers=headers)
        text = await response.get_data(as_text=True)
        return Reply(response.status_code, text, _headers(response.headers.items()))

    def close(self) -> None:
        self.loop.run_until_complete(self.mongo.close())
        self.loop.close()


# -- Django's own cookie ------------------------------------------------------------------


class DjangoSite:
    """The Django views through Django's test Client, ``MONGOSESSION`` set for this site."""

    cookie_name = "sessionid"
    lifetime = 120  # SESSION_COOKIE_AGE: Django's expiry, not the store's ttl

    def __init__(
        self, uri: str, listener: Listener, *, options: Extra = None, **store: Any
    ) -> None:
        configure_django()
        from django.test import Client
        from django.test.utils import override_settings

        store.pop("ttl", None)
        self.mongo: MongoClient[Any] = MongoClient(uri, event_listeners=[listener])
        self.settings = override_settings(
            MONGOSESSION={"client": self.mongo, **store},
            SESSION_COOKIE_AGE=self.lifetime,
            **django_options(options),
        )
        self.settings.enable()
        self.http = Client(raise_request_exception=False)  # a view's error: Django's 500

    def signed(self, sid: str) -> str:
        return sid  # Django's cookie is the bare session key

    def tampered(self, value: str) -> str:
        return value[:-1] + ("a" if value[-1] != "a" else "b")

    def request(self, method: str, path: str, cookie: str | None, headers: Extra = None) -> Reply:
        self.http.cookies = SimpleCookie()
        meta = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in _with_cookie(cookie, headers).items()
        }
        response = self.http.generic(method, path, **meta)
        headers = _headers(response.headers.items())
        headers += [("set-cookie", morsel.OutputString()) for morsel in response.cookies.values()]
        return Reply(response.status_code, response.content.decode(), headers)

    def close(self) -> None:
        self.settings.disable()
        self.mongo.close()


# -- real HTTP ---------------------------------------------------------------------------


class HTTPSite:
    """A server process on a loopback port, over real HTTP (httpx)."""

    def __init__(self, base_url: str, cookie_name: str) -> None:
        self.cookie_name = cookie_name
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def signed(self, sid: str) -> str:
        raise NotImplementedError

    def tampered(self, value: str) -> str:
        raise NotImplementedError

    def request(self, method: str, path: str, cookie: str | None, headers: Extra = None) -> Reply:
        self.http.cookies.clear()
        response = self.http.request(method, path, headers=_with_cookie(cookie, headers))
        return Reply(response.status_code, response.text, _headers(response.headers.multi_items()))

    def close(self) -> None:
        self.http.close()


# -- a real server in this process ----------------------------------------------------

#: The store's default ``ttl`` (seconds), the lifetime of a session the options do not set.
DEFAULT_TTL = 14 * 24 * 3600

T = TypeVar("T")


class ServedApp:
    """An adapter's app under a real HTTP server in this process, over real HTTP.

    Handlers run in the server's threads (or its event loop's thread) and share
    :data:`tests.support.adapter_apps.gate` and the database with the test, so two
    requests can be made to overlap. ``store`` is a blocking :class:`MongoStore`
    on the app's collection, usable from the test thread
    (``app.store.destroy_user("alice")``).
    """

    cookie_name: str
    #: What a request whose session ended while it ran answers when it saves.
    ended_status: int
    #: Seconds an idle session lives: the store's ``ttl`` (Django: ``SESSION_COOKIE_AGE``).
    lifetime: float
    store: MongoStore
    url: str

    def __init__(self) -> None:
        self.closing = ExitStack()

    def serve(self, wsgi_app: Any) -> None:
        self.url = self.closing.enter_context(serving_in_thread(wsgi_app))

    def browser(
        self, cookie: str | None = None, headers: Mapping[str, str] | None = None
    ) -> Browser:
        """A new browser (its own HTTP connection), presenting ``cookie`` if given."""
        site = HTTPSite(self.url, self.cookie_name)
        self.closing.callback(site.close)
        return Browser(site, {self.cookie_name: cookie} if cookie else None, headers)

    def close(self) -> None:
        self.closing.close()


class ServedFlask(ServedApp):
    """The Flask app (tests/support/adapter_apps.py) on werkzeug's threaded server."""

    cookie_name = "session"
    ended_status = 200  # the view's answer, with the cookie cleared

    def __init__(self, uri: str, *, options: Mapping[str, Any] | None = None, **store: Any) -> None:
        super().__init__()
        self.lifetime = store.get("ttl", DEFAULT_TTL)
        self.store = MongoStore(uri=uri, **store)
        self.closing.callback(self.store.close)
        self.serve(flask_app(self.store, **(options or {})))


class ServedDjango(ServedApp):
    """The Django views on werkzeug's threaded server, ``MONGOSESSION`` set for this app.

    A ``ttl`` becomes ``SESSION_COOKIE_AGE``, Django's lifetime of a session.
    """

    cookie_name = "sessionid"
    ended_status = 400  # Django's SessionInterrupted: the save raised UpdateError

    def __init__(self, uri: str, *, options: Mapping[str, Any] | None = None, **store: Any) -> None:
        super().__init__()
        configure_django()
        from django.conf import settings as django_settings
        from django.core.handlers.wsgi import WSGIHandler
        from django.test.utils import override_settings

        from mongosession.django import get_store

        ttl = store.pop("ttl", None)  # Django's SESSION_COOKIE_AGE is the lifetime
        age = {} if ttl is None else {"SESSION_COOKIE_AGE": int(ttl)}
        settings = override_settings(
            MONGOSESSION={"uri": uri, **store}, **age, **django_options(options)
        )
        settings.enable()
        self.closing.callback(settings.disable)  # also closes the engine's store
        self.lifetime = django_settings.SESSION_COOKIE_AGE
        self.store = get_store()
        self.serve(WSGIHandler())


class ServedAsync(ServedApp):
    """An async adapter's app on a real server in a background thread with its own loop.

    - ``async_store``: the server's :class:`AsyncMongoStore`, made in that loop;
    - ``store``: a blocking :class:`MongoStore` on the same database and collection
      with the same options, for the test thread (``app.store.destroy_user("alice")``);
    - ``run(fn)``: runs the coroutine ``fn()`` on the server's loop and returns its
      result, to call the server's own store object from the test thread:
      ``app.run(lambda: app.async_store.destroy_user("alice"))``.

    The loop's default executor has room for many held requests: the gated
    handlers wait at the thread gate in ``asyncio.to_thread``.
    """

    cookie_name = "connect.sid"
    # The slow request's save finds its session gone: the handler's answer, the
    # cookie cleared (as Flask).
    ended_status = 200
    async_store: AsyncMongoStore

    def __init__(self, uri: str, *, options: Mapping[str, Any] | None = None, **store: Any) -> None:
        super().__init__()
        #: Session options of the app (the adapter's keywords).
        self.options = dict(options or {})
        self.lifetime = store.get("ttl", DEFAULT_TTL)
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(ThreadPoolExecutor(64, thread_name_prefix="served-handler"))
        thread = threading.Thread(target=self.loop.run_forever, name="served-loop", daemon=True)
        thread.start()
        self.closing.callback(self._end_loop, thread)
        try:

            async def make_store() -> AsyncMongoStore:
                return AsyncMongoStore(uri=uri, **store)

            self.async_store = self.run(make_store)
            self.closing.callback(self.run, self.async_store.close)
            self.store = MongoStore(uri=uri, **store)
            self.closing.callback(self.store.close)
            self.run(self.start)
            self.closing.callback(self.run, self.stop)
        except BaseException:
            self.close()
            raise

    def run(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 60) -> T:
        """Run the coroutine ``fn()`` on the server's loop; its result (or its exception)."""
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout)

    async def start(self) -> None:
        """Start serving (in the loop); sets ``url``."""
        raise NotImplementedError

    async def stop(self) -> None:
        """Stop serving (in the loop)."""
        raise NotImplementedError

    def _end_loop(self, thread: threading.Thread) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        thread.join(10)
        self.loop.close()


class ServedASGI(ServedAsync):
    """tests/support/apps.py's Starlette app (with its gated routes) on uvicorn."""

    async def start(self) -> None:
        # A socket bound here: uvicorn answers a port it cannot bind with sys.exit.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.closing.callback(sock.close)
        app = starlette_app(self.async_store, gated=True, secret=SECRET, **self.options)
        # log_config=None: uvicorn leaves the process's logging alone (its errors
        # reach the root logger, and pytest's caplog, as Flask's and Django's do).
        config = uvicorn.Config(
            app, lifespan="on", log_config=None, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.serving = asyncio.ensure_future(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self.serving.done():
                self.serving.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.serving


class ServedAiohttp(ServedAsync):
    """The aiohttp app (tests/support/adapter_apps.py) on aiohttp's own server (AppRunner, TCPSite)."""

    async def start(self) -> None:
        self.runner = web.AppRunner(aiohttp_app(self.async_store, **self.options), access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


class ServedLitestar(ServedAsync):
    """The Litestar app (tests/support/adapter_apps.py) on uvicorn."""

    async def start(self) -> None:
        # A socket bound here: uvicorn answers a port it cannot bind with sys.exit.
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.closing.callback(sock.close)
        config = uvicorn.Config(
            litestar_app(self.async_store, **self.options),
            lifespan="on",
            log_config=None,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.serving = asyncio.ensure_future(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self.serving.done():
                self.serving.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.serving


class ServedQuart(ServedAsync):
    """The Quart app (tests/support/adapter_apps.py) on hypercorn, Quart's own server."""

    cookie_name = "session"  # Quart's SESSION_COOKIE_NAME

    async def start(self) -> None:
        port = free_port()
        config = HypercornConfig()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        config.errorlog = None  # Quart logs a view's error itself (app.logger)
        config.graceful_timeout = 5
        self.stopping = asyncio.Event()
        app = quart_app(self.async_store, **self.options)
        self.serving = asyncio.ensure_future(
            hypercorn_serve(app, config, shutdown_trigger=self.stopping.wait)
        )
        self.url = f"http://127.0.0.1:{port}"
        while not await asyncio.to_thread(_accepts, port):
            if self.serving.done():
                self.serving.result()
                raise RuntimeError("hypercorn stopped before it started")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.stopping.set()
        await self.serving


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


#: Every adapter's app on a real server, by adapter name.
SERVED: dict[str, Callable[..., ServedApp]] = {
    "flask": ServedFlask,
    "django": ServedDjango,
    "asgi": ServedASGI,
    "aiohttp": ServedAiohttp,
    "litestar": ServedLitestar,
    "quart": ServedQuart,
}

#: Every adapter's site (its framework's test client), by adapter name.
SITES: dict[str, type[Site]] = {
    "asgi": ASGISite,
    "flask": FlaskSite,
    "django": DjangoSite,
    "aiohttp": AiohttpSite,
    "litestar": LitestarSite,
    "quart": QuartSite,
}
