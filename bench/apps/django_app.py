"""A one-file Django project (served by gunicorn): ``bench.apps.django_app:application``.

``BENCH_DJANGO_ENGINE`` picks the session engine:

- ``mongosession``: ``SESSION_ENGINE = "mongosession.django"`` with its middleware,
  ``MONGOSESSION = {"uri": BENCH_DB_URI, "touch_after": 0}``;
- ``db``: Django's own ``django.contrib.sessions.backends.db`` on SQLite;
- ``cached_db``: Django's ``cached_db``, the same table behind the default cache
  (``LocMemCache``, one per process).

SQLite is the file ``BENCH_SQLITE_PATH``, in WAL mode with ``synchronous=NORMAL``
(no fsync per commit, as MongoDB's default write concern does not wait for the
journal) and a persistent connection (``CONN_MAX_AGE=None``, like the pooled
MongoDB clients). At start the ``django_session`` table is made, and filled with
``BENCH_BACKGROUND`` other sessions when empty (the MongoDB stacks' collections
are filled by the harness).

Django has no ``touch_after``: it writes a session only when it was modified
(or on every request with ``SESSION_SAVE_EVERY_REQUEST``), so ``/touch`` marks
the session modified, which is that setting for one route; ``/read`` writes
nothing in every engine.
"""

from __future__ import annotations

import os
from datetime import timedelta

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.urls import path

from mongosession import NearCache

from . import MAX_AGE, NEAR_CACHE, SECRET, URI, profile

ENGINE = os.environ.get("BENCH_DJANGO_ENGINE", "mongosession")
ENGINES = {
    "mongosession": ("mongosession.django", "mongosession.django.SessionMiddleware"),
    "db": (
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.middleware.SessionMiddleware",
    ),
    "cached_db": (
        "django.contrib.sessions.backends.cached_db",
        "django.contrib.sessions.middleware.SessionMiddleware",
    ),
}
if ENGINE not in ENGINES:
    raise SystemExit(f"BENCH_DJANGO_ENGINE must be one of {', '.join(ENGINES)}, not {ENGINE!r}")
SQL = ENGINE != "mongosession"


def login(request: HttpRequest) -> HttpResponse:
    request.session.cycle_key()
    user = request.GET["user"]
    request.session["user"] = user
    request.session["profile"] = profile(user)
    request.session["n"] = 0
    return HttpResponse("ok", content_type="text/plain")


def read(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.session.get("user", "anonymous"), content_type="text/plain")


def touch(request: HttpRequest) -> HttpResponse:
    user = request.session.get("user", "anonymous")
    request.session.modified = True  # SESSION_SAVE_EVERY_REQUEST, for this route
    return HttpResponse(user, content_type="text/plain")


def write(request: HttpRequest) -> HttpResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse(str(request.session["n"]), content_type="text/plain")


def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("login", login),
    path("read", read),
    path("touch", touch),
    path("write", write),
    path("health", health),
]

settings.configure(
    DEBUG=False,
    SECRET_KEY=SECRET,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.sessions"] if SQL else [],
    MIDDLEWARE=[ENGINES[ENGINE][1]],
    SESSION_ENGINE=ENGINES[ENGINE][0],
    SESSION_COOKIE_AGE=int(MAX_AGE),
    USE_TZ=True,
    DATABASES=(
        {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": os.environ.get("BENCH_SQLITE_PATH", "bench-sessions.sqlite3"),
                "CONN_MAX_AGE": None,
                "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"},
            }
        }
        if SQL
        else {}
    ),
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    MONGOSESSION={
        "uri": URI,
        "touch_after": 0,
        **({} if NEAR_CACHE is None else {"near_cache": NearCache(max_staleness=NEAR_CACHE)}),
    },
)
django.setup()


def _prepare_sql(count: int) -> None:
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    call_command("migrate", "sessions", verbosity=0, interactive=False)
    if count <= 0 or Session.objects.exists():
        return
    expires = timezone.now() + timedelta(seconds=MAX_AGE)
    encode = SessionStore().encode
    Session.objects.bulk_create(
        [
            Session(
                session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
                session_data=encode({"user": f"background-{i}", "n": i}),
                expire_date=expires,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )


if SQL:
    _prepare_sql(int(os.environ.get("BENCH_BACKGROUND", "0")))

application = WSGIHandler()
