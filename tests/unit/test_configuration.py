"""Bad options are a :class:`~mongosession.ConfigurationError`, at start-up, in every layer.

A bad value is a ``ConfigurationError`` (a ``ValueError`` too, as before it
existed); an option of the wrong type, or a name that is no option, is a
:class:`~mongosession.ConfigurationTypeError` (a ``ConfigurationError`` and a
``TypeError``, as Python's own calls raise). No database is needed: every check
runs when the object is made.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from mongosession import (
    AsyncMongoStore,
    ConfigurationError,
    ConfigurationTypeError,
    MongoSessionError,
    MongoStore,
)
from mongosession.aiohttp import setup
from mongosession.asgi import SessionMiddleware
from mongosession.flask import MongoSessionInterface
from mongosession.web.config import SessionConfig

NOWHERE = "mongodb://127.0.0.1:1/app"  # never contacted: the checks come first


def test_a_configuration_error_is_a_mongosession_error_and_a_value_error() -> None:
    assert issubclass(ConfigurationError, MongoSessionError)
    assert issubclass(ConfigurationError, ValueError)
    assert not issubclass(ConfigurationError, TypeError)


def test_a_configuration_type_error_is_a_configuration_error_and_a_type_error() -> None:
    assert issubclass(ConfigurationTypeError, ConfigurationError)
    assert issubclass(ConfigurationTypeError, TypeError)


# -- the session options -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"secret": ""}, "secret"),
        ({"secret": []}, "secret"),
        ({"secret": ["ok", ""]}, "secret"),
        ({"secret": 42}, "secret"),
        ({"secret": "s", "name": ""}, "cookie name"),
        ({"secret": "s", "max_age": -1}, "max_age"),
        ({"secret": "s", "same_site": "sometimes"}, "same_site"),
        ({"secret": "s", "same_site": 1}, "same_site"),
        ({"secret": "s", "same_site": "none"}, "requires secure"),
        ({"secret": "s", "secure": "yes"}, "secure"),
        ({"secret": "s", "partitioned": True}, "partitioned"),
        ({"secret": "s", "unset": "drop"}, "unset"),
        ({"secret": "s", "priority": "urgent"}, "priority"),
        ({"secret": "s", "path": "relative"}, "path"),
        ({"secret": "s", "header": ""}, "header"),
    ],
)
def test_a_bad_session_option_value_is_a_configuration_error(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SessionConfig(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": 1}, "name must be a str"),
        ({"path": None}, "path must be a str"),
        ({"genid": "abc"}, "genid must be callable"),
        ({"max_age": "3600"}, "max_age"),
    ],
)
def test_a_session_option_of_the_wrong_type_is_a_configuration_type_error(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationTypeError, match=message):
        SessionConfig(secret="s", **options)


def test_an_unknown_session_option_is_a_configuration_type_error() -> None:
    with pytest.raises(ConfigurationTypeError, match="unknown session option 'max_ages'"):
        SessionConfig.from_options("s", {"max_ages": 60})


# -- every adapter's constructor -------------------------------------------------------------


def test_every_adapter_refuses_a_bad_option_when_made() -> None:
    async_store = AsyncMongoStore(uri=NOWHERE)
    with pytest.raises(ConfigurationError, match="unset"):
        SessionMiddleware(lambda *a: None, store=async_store, secret="s", unset="drop")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationTypeError, match="unknown session option 'roling'"):
        SessionMiddleware(lambda *a: None, store=async_store, secret="s", roling=True)  # type: ignore[arg-type, call-arg]
    with pytest.raises(ConfigurationError, match="unset"):
        setup(web.Application(), async_store, secret="s", unset="drop")  # type: ignore[typeddict-item]
    with pytest.raises(ConfigurationTypeError, match="unknown session option 'roling'"):
        setup(web.Application(), async_store, secret="s", roling=True)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "make",
    [
        lambda: SessionMiddleware(lambda *a: None, store=MongoStore(uri=NOWHERE), secret="s"),  # type: ignore[arg-type]
        lambda: setup(web.Application(), MongoStore(uri=NOWHERE), secret="s"),  # type: ignore[arg-type]
        lambda: MongoSessionInterface(AsyncMongoStore(uri=NOWHERE), secret="s"),  # type: ignore[arg-type]
    ],
    ids=["asgi", "aiohttp", "flask"],
)
def test_every_adapter_refuses_the_wrong_kind_of_store(make: Any) -> None:
    with pytest.raises(ConfigurationTypeError, match="MongoStore"):
        make()


# -- the store's options ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"collection": ""}, "collection"),
        ({"ttl": 0}, "ttl"),
        ({"auto_remove_interval": -1}, "auto_remove_interval"),
        ({"touch_after": -1}, "touch_after"),
        ({"absolute_lifetime": 0}, "absolute_lifetime"),
        ({"auto_remove": "sometimes"}, "auto_remove"),
        ({"timeout": 0}, "timeout"),
        ({"request_timeout": 0}, "request_timeout"),
        ({"max_size": 0}, "max_size"),
        ({"user_key": ""}, "user_key"),
        ({"max_sessions_per_user": 0, "user_key": "user"}, "max_sessions_per_user"),
        ({"max_sessions_per_user": 2}, "needs user_key"),
        ({"on_session_limit": "ignore"}, "on_session_limit"),
    ],
)
@pytest.mark.parametrize("store_class", [AsyncMongoStore, MongoStore])
def test_a_bad_store_option_is_a_configuration_error(
    store_class: type[Any], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        store_class(uri=NOWHERE, **options)


def test_a_transform_id_that_cannot_be_called_is_a_configuration_type_error() -> None:
    with pytest.raises(ConfigurationTypeError, match="transform_id"):
        MongoStore(uri=NOWHERE, transform_id="sha256")
