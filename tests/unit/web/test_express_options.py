"""The session options express-session has and mongosession had missing (issue 13, item 3).

Bytes secrets, the messages for a missing or empty secret, ``genid`` given the
request, ``cookie`` as a function of the request, ``same_site="auto"``, and the
refusal of express-session's deprecated ``key``. No I/O: the options and the
decision table only. The same behaviours over a real server and store:
tests/conformance/test_express_session.py and tests/integration/test_asgi_express_options.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import secrets
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import pytest

from mongosession import AsyncMongoStore, ConfigurationError, ConfigurationTypeError, _clock
from mongosession.web.asynchronous.exchange import AsyncExchange
from mongosession.web.config import SessionConfig
from mongosession.web.cookies import sign, unsign
from mongosession.web.rules import RequestState


def node_signature(sid: str, key: bytes) -> str:
    """cookie-signature's ``sign``: base64 HMAC-SHA256 without padding."""
    return base64.b64encode(hmac.new(key, sid.encode(), hashlib.sha256).digest()).decode()[:-1]


# -- secret -------------------------------------------------------------------------------


def test_a_bytes_secret_signs_with_its_bytes_as_node_signs_with_a_buffer() -> None:
    key = bytes(range(256))[::-1][:32]  # not UTF-8: signed as it is, never decoded
    config = SessionConfig(secret=key)
    assert config.secrets == (key,)
    assert sign("abc", config.secrets[0]) == f"s:abc.{node_signature('abc', key)}"
    assert unsign(sign("abc", key), config.secrets) == "abc"


def test_a_str_secret_signs_with_its_utf8_bytes_as_node_signs_with_a_string() -> None:
    config = SessionConfig(secret="clé")
    assert config.secrets == ("clé".encode(),)
    assert sign("abc", "clé") == sign("abc", "clé".encode())


def test_a_list_may_mix_str_and_bytes_secrets() -> None:
    config = SessionConfig(secret=[b"new", "old", bytearray(b"older")])  # type: ignore[list-item]
    assert config.secrets == (b"new", b"old", b"older")
    for key in (b"new", "old", b"older"):
        assert unsign(sign("abc", key), config.secrets) == "abc"


@pytest.mark.parametrize("secret", [b"", [b"ok", b""], ["ok", 1], 42, {"a": 1}])
def test_an_unusable_secret_is_refused(secret: Any) -> None:
    with pytest.raises(ConfigurationError, match="secret must be a non-empty str or bytes"):
        SessionConfig(secret=secret)


def test_a_secret_that_is_none_is_refused_naming_the_secret_and_the_usual_cause() -> None:
    with pytest.raises(ConfigurationError, match=r"secret option is required.*environment"):
        SessionConfig(secret=None)  # type: ignore[arg-type]


def test_an_empty_secret_list_is_refused_with_express_sessions_wording() -> None:
    # express-session: "secret option array must contain one or more strings".
    with pytest.raises(ConfigurationError, match="secret option array"):
        SessionConfig(secret=[])


# -- genid --------------------------------------------------------------------------------


REQUEST = {"type": "http", "path": "/foo"}


def new_id(genid: Any, request: Any = REQUEST) -> str:
    return RequestState(
        SessionConfig(secret="s", genid=genid), secure_request=False, request=request
    ).new_id()


def test_a_genid_with_one_parameter_gets_the_request() -> None:
    def genid(request: Mapping[str, Any]) -> str:
        return "id" + str(request["path"])

    assert new_id(genid) == "id/foo"


def test_a_genid_with_star_args_gets_the_request() -> None:
    seen: list[tuple[Any, ...]] = []

    def genid(*args: Any) -> str:
        seen.append(args)
        return "given"

    assert new_id(genid) == "given"
    assert seen == [(REQUEST,)]


def test_a_genid_without_parameters_is_called_bare() -> None:
    assert new_id(lambda: "bare") == "bare"


def test_a_genid_whose_parameters_are_all_optional_is_called_bare() -> None:
    # secrets.token_urlsafe(nbytes=None): the request must not become nbytes.
    config = SessionConfig(secret="s", genid=secrets.token_urlsafe)
    assert (config.genid_takes_request, config.genid_needs_request) == (False, False)
    assert len(new_id(secrets.token_urlsafe)) == 43


def test_a_callable_without_a_signature_is_called_bare(monkeypatch: pytest.MonkeyPatch) -> None:
    # Some builtins have none (inspect.signature raises ValueError): called as before.
    def no_signature(f: object) -> inspect.Signature:
        raise ValueError("no signature found")

    monkeypatch.setattr(inspect, "signature", no_signature)
    assert new_id(lambda: "builtin") == "builtin"


@pytest.mark.parametrize(
    "genid",
    [lambda a, b: "x", lambda *, key: "x", lambda a, *, key: "x"],
    ids=["two-parameters", "keyword-only", "positional-and-keyword-only"],
)
def test_a_genid_that_cannot_take_the_request_alone_is_refused_when_made(genid: Any) -> None:
    with pytest.raises(ConfigurationTypeError, match="genid must take no argument or one"):
        SessionConfig(secret="s", genid=genid)


def test_a_genid_that_is_not_callable_is_refused_when_made() -> None:
    with pytest.raises(ConfigurationTypeError, match="genid must be callable"):
        SessionConfig(secret="s", genid="not callable")  # type: ignore[arg-type]


def test_the_genid_arity_is_read_once_when_made(monkeypatch: pytest.MonkeyPatch) -> None:
    config = SessionConfig(secret="s", genid=lambda request: "once")
    calls: list[object] = []
    real = inspect.signature

    def counted(f: Any) -> inspect.Signature:
        calls.append(f)
        return real(f)

    monkeypatch.setattr(inspect, "signature", counted)
    state = RequestState(config, secure_request=False, request=REQUEST)
    assert [state.new_id() for _ in range(3)] == ["once"] * 3
    assert calls == []


def test_a_genid_needing_the_request_fails_clearly_where_the_adapter_gives_none() -> None:
    with pytest.raises(ConfigurationError, match="genid takes the request"):
        new_id(lambda request: "x", request=None)
    assert new_id(lambda *args: "bare", request=None) == "bare"


# -- key ----------------------------------------------------------------------------------


def test_express_sessions_key_alias_is_refused_naming_name() -> None:
    with pytest.raises(ConfigurationTypeError, match=r"unknown session option 'key'.*use name"):
        SessionConfig.from_options("s", {"key": "sessid"})


# -- same_site="auto" -----------------------------------------------------------------------


@pytest.mark.parametrize(("secure", "https"), [("auto", True), ("auto", False), (True, True)])
def test_same_site_auto_is_none_on_secure_requests_and_lax_on_others(
    secure: Any, https: bool
) -> None:
    config = SessionConfig(secret="s", same_site="auto", secure=secure)
    state = RequestState(config, secure_request=https)
    session = state.new_session(None, _clock.now())
    wanted = "none" if https else "lax"
    assert session.cookie.same_site == wanted  # already on the new session, for save()
    session["n"] = 1
    plan = state.plan(session, _clock.now())
    assert plan.set_cookie
    (header,) = [v for k, v in state.cookie_headers(session, plan) if k == "set-cookie"]
    assert f"SameSite={wanted.capitalize()}" in header
    assert ("Secure" in header.split("; ")) is https
    assert state.stored_form(session)["cookie"]["sameSite"] == wanted


def test_same_site_auto_follows_each_request_for_a_loaded_session() -> None:
    config = SessionConfig(secret="s", same_site="AUTO", secure="auto", rolling=True)  # type: ignore[arg-type]
    assert config.same_site == "auto"
    stored = {"cookie": {"originalMaxAge": None, "sameSite": "none", "secure": True}}
    state = RequestState(config, secure_request=False)
    session = state.loaded_session("x" * 32, stored, None, _clock.now())
    state.plan(session, _clock.now())
    assert (session.cookie.same_site, session.cookie.secure) == ("lax", False)


def test_same_site_auto_without_secure_is_refused_when_made() -> None:
    # On https it would send SameSite=None without Secure: a cookie browsers drop.
    with pytest.raises(ConfigurationError, match="same_site='auto' requires secure"):
        SessionConfig(secret="s", same_site="auto")


# -- cookie: a function of the request ----------------------------------------------------------


def test_the_cookie_function_overrides_the_static_options_for_one_request() -> None:
    seen: list[Any] = []

    def cookie(request: Any) -> dict[str, Any]:
        seen.append(request)
        return {"path": request["path"], "max_age": 60, "same_site": "Strict"}

    config = SessionConfig(secret="s", cookie=cookie, domain="example.org", http_only=False)
    resolved = config.resolve(REQUEST)
    assert seen == [REQUEST]
    assert (resolved.path, resolved.max_age, resolved.same_site) == ("/foo", 60, "strict")
    assert (resolved.domain, resolved.http_only) == ("example.org", False)  # the static ones
    assert resolved.cookie is None
    assert resolved.secrets == config.secrets
    assert (config.path, config.max_age, config.same_site) == ("/", None, "lax")  # unchanged


def test_without_a_cookie_function_resolve_is_the_config_itself() -> None:
    config = SessionConfig(secret="s")
    assert config.resolve(REQUEST) is config


@pytest.mark.parametrize(
    ("returned", "error", "message"),
    [
        ({"path": "relative"}, ConfigurationError, "path must start with /"),
        ({"same_site": "none"}, ConfigurationError, "requires secure"),
        ({"same_site": "auto"}, ConfigurationError, "requires secure"),
        ({"max_age": "60"}, ConfigurationTypeError, "max_age"),
        ({"expires": datetime(2030, 1, 1)}, ConfigurationTypeError, "timezone-aware"),
        ({"priority": "urgent"}, ConfigurationError, "priority"),
        ({"name": "other"}, ConfigurationTypeError, "returned 'name'"),
        ({"maxAge": 60}, ConfigurationTypeError, "returned 'maxAge'"),
        (None, ConfigurationTypeError, "must return a mapping"),
        ([("path", "/")], ConfigurationTypeError, "must return a mapping"),
    ],
)
def test_a_bad_cookie_function_result_fails_the_request_with_the_startup_checks(
    returned: Any, error: type[Exception], message: str
) -> None:
    config = SessionConfig(secret="s", cookie=lambda request: returned)
    with pytest.raises(error, match=message):
        config.resolve(REQUEST)


def test_a_cookie_function_result_is_checked_against_the_cookie_name() -> None:
    config = SessionConfig(
        secret="s", name="__Host-id", secure=True, cookie=lambda request: {"path": "/app"}
    )
    with pytest.raises(ConfigurationError, match="__Host-"):
        config.resolve(REQUEST)


def test_a_cookie_option_that_cannot_be_called_is_refused_when_made() -> None:
    with pytest.raises(ConfigurationTypeError, match="cookie must be None or a function"):
        SessionConfig(secret="s", cookie={"path": "/"})  # type: ignore[arg-type]


def test_a_cookie_function_gives_a_new_session_its_options() -> None:
    when = datetime(2040, 1, 1, tzinfo=timezone.utc)
    config = SessionConfig(
        secret="s",
        max_age=60,
        cookie=lambda request: {"expires": when, "max_age": None, "secure": True},
    ).resolve(REQUEST)
    state = RequestState(config, secure_request=True)
    session = state.new_session(None, _clock.now())
    assert (session.cookie.expires, session.cookie.secure) == (when, True)


def test_an_adapter_that_gives_no_request_cannot_use_a_cookie_function() -> None:
    # Flask and aiohttp give the session layer no request yet: a clear error, not a
    # cookie function called with None.
    store = AsyncMongoStore(uri="mongodb://127.0.0.1:1/app")  # never contacted
    config = SessionConfig(secret="s", cookie=lambda request: {"path": request["path"]})
    with pytest.raises(ConfigurationError, match="cookie option is a function of the request"):
        AsyncExchange.for_request(store, config, lambda name: None, https=False)
    exchange = AsyncExchange.for_request(
        store, config, lambda name: None, https=False, request=REQUEST
    )
    assert exchange.state.config.path == "/foo"
    assert exchange.state.request is REQUEST
