"""A minimal Django project in one file, with sessions in MongoDB.

    .venv/bin/python examples/django_app.py runserver 8000 --noreload   # development server
    .venv/bin/gunicorn --preload -w 2 --chdir examples django_app:application
    .venv/bin/python examples/django_app.py clearsessions   # manage.py commands work too

Uses ``MONGODB_URI`` when set, else a throwaway local MongoDB, removed at exit. With
several gunicorn workers, ``--preload`` makes the master start that MongoDB before it
forks, so every worker shares it (without ``--preload`` each worker would start its
own, and a session made by one would be unknown to the others); with ``MONGODB_URI``
set, ``--preload`` is not needed. The routes are
those of flask_app.py: ``/``, ``POST /login?user=NAME``, ``/whoami``, ``POST /logout``.
"""

from __future__ import annotations

import os
import sys

from _mongodb import database_uri
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ.get("SESSION_SECRET", "dev secret: change me"),
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.sessions"],  # for `clearsessions`; no database needed
    # A real project keeps CsrfViewMiddleware; it is left out so curl can drive this one.
    MIDDLEWARE=["mongosession.django.SessionMiddleware"],
    SESSION_ENGINE="mongosession.django",
    MONGOSESSION={"uri": database_uri("django_example"), "touch_after": 60},
    SESSION_SAVE_EVERY_REQUEST=True,  # with mongosession: a touch, at most once a minute
    DATABASES={},
    USE_TZ=True,
)

import django  # noqa: E402 - settings first
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.http import require_GET, require_POST  # noqa: E402

django.setup()


@require_GET
def visits(request: HttpRequest) -> HttpResponse:
    request.session["visits"] = request.session.get("visits", 0) + 1
    return HttpResponse(f"{request.session['visits']}\n")


@require_POST
def login(request: HttpRequest) -> HttpResponse:
    request.session.cycle_key()  # django.contrib.auth.login() does this for you
    request.session["user"] = request.GET["user"]
    return HttpResponse("welcome\n")


@require_GET
def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"{request.session.get('user', 'anonymous')}\n")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    request.session.flush()  # django.contrib.auth.logout() does this for you
    return HttpResponse("bye\n")


urlpatterns = [
    path("", visits),
    path("login", login),
    path("whoami", whoami),
    path("logout", logout),
]

application = get_wsgi_application()

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
