"""Mistakes in the session options that mypy must refuse (tests/test_typing.py); never run.

Each line marked ``# error`` must be an error, and no other line.
"""

from __future__ import annotations

from aiohttp import web
from flask import Flask
from starlette.applications import Starlette

from mongosession import AsyncMongoStore, MongoStore
from mongosession.aiohttp import setup
from mongosession.asgi import SessionMiddleware
from mongosession.flask import MongoSession

store = AsyncMongoStore(uri="mongodb://localhost:27017/app")
app = Starlette()
app.add_middleware(SessionMiddleware, store=store, secret="s", max_ages=60)  # error
app.add_middleware(SessionMiddleware, store=store, secret="s", same_site="sometimes")  # error
app.add_middleware(SessionMiddleware, store=store, secret="s", max_age=60)
setup(web.Application(), store, secret="s", rolling="yes")  # error
setup(web.Application(), store, secret="s", rolling=True)
MongoSession(Flask(__name__), store=MongoStore(uri="mongodb://h/app"), unset="drop")  # error
MongoSession(Flask(__name__), store=MongoStore(uri="mongodb://h/app"), unset="destroy")
