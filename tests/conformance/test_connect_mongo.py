"""connect-mongo 6.0.0's own test suite, ported to mongosession.

Upstream: https://github.com/jdesboeufs/connect-mongo, tag ``v6.0.0`` (commit
76818fae07ef8941073948c56ea432b3d0bc40f1), the version tests/interop/package-lock.json
pins. Three files:

- ``src/lib/MongoStore.spec.ts`` -> :class:`TestMongoStoreSpec`
- ``src/test/integration.spec.ts`` -> :class:`TestIntegrationSpec`
- ``src/test/upgrade-compat.spec.ts`` -> :class:`TestUpgradeCompatSpec`

Each test is named after the upstream title (snake case) and quotes it in its
docstring; tests/conformance/CONFORMANCE.md classifies every upstream case. The
ports are written from reading the upstream tests; the assertions are theirs, in
Python. The API maps as docs/options.md#from-connect-mongo says: callbacks become
plain calls (an error passed to the callback is an exception), ``store.collectionP``
(the collection, its TTL index made) is ``store.prepare()``, ``createStoreHelper``'s
defaults (collection ``test-collection``, ``autoRemove: 'disabled'``) are
:func:`helper_store`'s, and sessions are in the JSON form express-session hands a
store. Store-level cases run on both stores (the ``kit`` fixture); the HTTP cases run
express-session's counterpart, the ASGI middleware, over :class:`AsyncMongoStore`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from pymongo import monitoring
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mongosession import AsyncMongoStore, BsonCodec, MongoSessionError, MongoStore
from mongosession.asgi import SessionMiddleware
from mongosession.interop import KrupteinCodec, WebCryptoCodec
from mongosession.testing.localdb import free_port
from tests.conformance._conformance import (
    CONNECT_MONGO_VERSION,
    AdapterCodec,
    Agent,
    installed_version,
    js_iso,
    make_cookie,
    make_data,
    make_data_no_cookie,
    now_ms,
    require_node,
    run_node,
)

Doc = dict[str, Any]

DIVERGENCE_CORRUPT = (
    "divergence: a payload that does not decode reads as no session (logged), "
    "connect-mongo passes the error to express-session "
    "(docs/options.md#decisions, docs/options.md#store-methods)"
)


def helper_store(kit: Any, **options: Any) -> Any:
    """``createStoreHelper(opt)``: collection ``test-collection``, autoRemove disabled."""
    return kit.store(**{"collection": "test-collection", "auto_remove": "disabled", **options})


def store_class(kit: Any) -> type[MongoStore] | type[AsyncMongoStore]:
    """The store class of the kit's flavour, for the constructor's own checks."""
    return AsyncMongoStore if kit.flavour == "async" else MongoStore


def json_roundtrip(value: Any) -> Any:
    """``JSON.parse(JSON.stringify(value))``."""
    return json.loads(json.dumps(value))


def ms(moment: Any) -> int:
    """``date.getTime()``."""
    return int(moment.timestamp() * 1000)


def index_names(db: Any, collection: str) -> list[str]:
    return [index["name"] for index in db[collection].list_indexes()]


class Updates(monitoring.CommandListener):
    """The ``update`` commands a client sent (connect-mongo's test fakes ``updateOne``)."""

    def __init__(self) -> None:
        self.calls: list[Doc] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update":
            self.calls.append(copy.deepcopy(dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class TestMongoStoreSpec:
    """``src/lib/MongoStore.spec.ts``."""

    def test_before_hook_clear_tolerates_a_missing_collection(self, kit: Any) -> None:
        """``test.before``: ``clear()`` of a collection that does not exist yet succeeds.

        Upstream's hook (not a case) clears the collection and tolerates only
        "ns not found"; mongosession's ``clear()`` must not fail at all there.
        """
        helper_store(kit).clear()

    # -- creating a store -------------------------------------------------------

    def test_create_store_without_required_options(self, kit: Any) -> None:
        """'create store w/o provide required options'."""
        with pytest.raises(ValueError, match="uri= or client="):
            store_class(kit)()  # neither uri nor client

    def test_create_store_with_explicit_undefined_clientpromise_still_errors(
        self, kit: Any
    ) -> None:
        """'create store with explicit undefined clientPromise still errors'.

        Python has no promise; the connection argument given explicitly as nothing is
        ``uri=None``.
        """
        with pytest.raises(ValueError, match="uri= or client="):
            store_class(kit)(uri=None)

    def test_create_store_with_explicit_undefined_client_still_errors(self, kit: Any) -> None:
        """'create store with explicit undefined client still errors'."""
        with pytest.raises(ValueError, match="uri= or client="):
            store_class(kit)(uri=None, client=None)

    def test_create_store_with_client(self, kit: Any) -> None:
        """'create store with client'."""
        store = kit.store(client=kit.client())
        assert store is not None
        store.prepare()  # await store.collectionP
        store.close()

    # -- reading an empty store ---------------------------------------------------

    def test_length_should_be_0(self, kit: Any) -> None:
        """'length should be 0'."""
        store = helper_store(kit)
        assert store.length() == 0

    def test_get_non_exist_session_should_throw_error(self, kit: Any) -> None:
        """'get non-exist session should throw error' (it asserts a null result)."""
        store = helper_store(kit)
        assert store.get("fake-sid") is None

    def test_get_all_session_should_work_for_no_session(self, kit: Any) -> None:
        """'get all session should work for no session' (``all()``'s sessions: none)."""
        store = helper_store(kit)
        assert list(store.all().values()) == []

    # -- the basic flow and events ---------------------------------------------------

    def test_basic_operation_flow(self, kit: Any) -> None:
        """'basic operation flow'."""
        store = helper_store(kit)
        org_session = make_data()
        sid = "test-basic-flow"
        assert store.set(sid, org_session) is None
        session = store.get(sid)
        assert isinstance(session, dict)
        org_session = json_roundtrip(org_session)
        assert session == org_session
        assert list(store.all().values()) == [org_session]
        assert store.length() == 1
        store.destroy(sid)  # the callback's error: none raised
        assert store.length() == 0

    def test_set_and_listen_to_event(self, kit: Any) -> None:
        """'set and listen to event': inside the 'set' listener the session reads back."""
        store = helper_store(kit)
        sid = "test-set-event"
        org_session = make_data()
        expected = json_roundtrip(org_session)
        heard: list[str] = []
        reads: list[Any] = []

        def on_set(session_id: str) -> None:
            heard.append(session_id)
            raw = getattr(store, "store", None)
            if isinstance(raw, AsyncMongoStore):  # a listener is plain: the read is a task
                reads.append(asyncio.get_running_loop().create_task(raw.get(sid)))
            else:
                reads.append(store.get(sid))

        store.on("set", on_set)
        store.set(sid, org_session)
        assert heard == [sid]
        session = kit.run(reads[0]) if kit.flavour == "async" else reads[0]
        assert session
        assert isinstance(session, dict)
        assert session == expected

    def test_timestamps_are_disabled_by_default(self, kit: Any, db: Any) -> None:
        """'timestamps are disabled by default'."""
        store = helper_store(kit)
        sid = "timestamps-disabled"
        store.set(sid, make_data())
        doc = db["test-collection"].find_one({"_id": sid})
        assert doc
        assert "createdAt" not in doc
        assert "updatedAt" not in doc

    def test_timestamps_opt_in_sets_createdat_once_and_updates_updatedat(
        self, kit: Any, db: Any
    ) -> None:
        """'timestamps opt-in sets createdAt once and updates updatedAt'."""
        store = helper_store(kit, timestamps=True)
        sid = "timestamps-enabled"
        store.set(sid, make_data())
        first = db["test-collection"].find_one({"_id": sid})
        assert first["createdAt"]
        assert first["updatedAt"]
        created_at, updated_at = ms(first["createdAt"]), ms(first["updatedAt"])
        assert created_at
        assert updated_at
        time.sleep(0.02)
        store.set(sid, {**make_data(), "fizz": "buzz"})
        second = db["test-collection"].find_one({"_id": sid})
        assert ms(second["createdAt"]) == created_at
        assert ms(second["updatedAt"]) > updated_at

    def test_set_and_listen_to_create_event(self, kit: Any) -> None:
        """'set and listen to create event'."""
        store = helper_store(kit)
        sid = "test-create-event"
        heard: list[str] = []
        store.on("create", heard.append)
        store.set(sid, make_data())
        assert heard == [sid]

    def test_set_and_listen_to_update_event(self, kit: Any) -> None:
        """'set and listen to update event'."""
        store = helper_store(kit)
        sid = "test-update-event"
        org_session = make_data()
        store.set(sid, org_session)
        heard: list[str] = []
        store.on("update", heard.append)
        store.set(sid, {**org_session, "foo": "new-bar"})
        assert heard == [sid]

    def test_set_with_no_stringify(self, kit: Any) -> None:
        """'set with no stringify' (``stringify: false`` is ``codec="bson"``)."""
        store = helper_store(kit, codec="bson")
        org_session = make_data()
        cookie = copy.deepcopy(org_session["cookie"])
        sid = "test-no-stringify"
        assert store.set(sid, org_session) is None
        session = store.get(sid)
        assert isinstance(session, dict)
        assert org_session["cookie"] == cookie
        assert cookie["expires"] == session["cookie"]["expires"]  # toJSON() of both
        assert cookie["secure"] == session["cookie"]["secure"]
        assert store.clear() is None
        assert store.length() == 0

    def test_ttl_uses_cookie_maxage_before_cookie_expires_and_ttl_fallback(
        self, kit: Any, db: Any
    ) -> None:
        """'ttl uses cookie.maxAge before cookie.expires and ttl fallback'."""
        default_ttl = 30_000
        store = helper_store(kit, ttl=default_ttl / 1000)
        cookie_max_age = make_cookie(max_age_ms=2_000)  # cookie.maxAge = 2000
        sid = "ttl-precedence"
        store.set(sid, {"foo": "ttl", "cookie": cookie_max_age})
        collection = db["test-collection"]
        doc = collection.find_one({"_id": sid})

        # maxAge = undefined, then expires = now + 90 s: originalMaxAge follows expires.
        cookie_expires = {
            **make_cookie(),
            "originalMaxAge": 90_000,
            "expires": js_iso(now_ms() + timedelta(seconds=90)),
        }
        sid2 = "ttl-precedence-expires"
        store.set(sid2, {"foo": "ttl2", "cookie": cookie_expires})
        doc2 = collection.find_one({"_id": sid2})

        sid3 = "ttl-precedence-ttl"
        store.set(sid3, {"foo": "ttl3"})
        doc3 = collection.find_one({"_id": sid3})

        exp, exp2, exp3 = ms(doc["expires"]), ms(doc2["expires"]), ms(doc3["expires"])
        assert exp > 0
        assert exp2 > 0
        assert exp3 > 0
        assert exp < exp3  # maxAge (2 s) < ttl fallback (30 s)
        assert exp3 < exp2  # ttl fallback (30 s) < cookie.expires (90 s)

    def test_clear_preserves_ttl_index_and_is_idempotent(self, kit: Any, db: Any) -> None:
        """'clear preserves TTL index and is idempotent'."""
        store = helper_store(kit, auto_remove="native")
        store.prepare()  # await store.collectionP
        db["test-collection"].insert_one(
            {
                "_id": "clear-ttl-index",
                "session": make_data(),
                "expires": now_ms() + timedelta(seconds=1),
            }
        )
        assert "expires_1" in index_names(db, "test-collection")
        store.clear()
        assert "expires_1" in index_names(db, "test-collection")
        store.clear()

    @pytest.mark.xfail(strict=True, reason=DIVERGENCE_CORRUPT)
    def test_decrypt_failure_only_calls_callback_once(self, kit: Any) -> None:
        """'decrypt failure only calls callback once': get reports the failure, once."""
        secret = ["right-secret"]

        def encrypt(plaintext: str) -> str:
            return f"{secret[0]}:{plaintext}"

        def decrypt(ciphertext: str) -> str:
            prefix = f"{secret[0]}:"
            if not ciphertext.startswith(prefix):
                raise ValueError("bad secret")
            return ciphertext[len(prefix) :]

        store = helper_store(kit, codec=AdapterCodec(encrypt=encrypt, decrypt=decrypt))
        sid = "decrypt-failure"
        store.set(sid, make_data())
        secret[0] = "wrong-secret"  # tamper with the secret so decryption fails
        # One call, one outcome: the error (a plain call cannot answer twice).
        with pytest.raises((MongoSessionError, ValueError)):
            store.get(sid)

    def test_interval_autoremove_suppresses_rejections_and_clears_timer_on_close(
        self, kit: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        """'interval autoRemove suppresses rejections and clears timer on close'.

        Upstream fakes ``setInterval`` and a collection whose ``deleteMany`` rejects;
        here the sweeper really runs, against a port nothing listens on, so each
        sweep's delete fails. Asserted as upstream: one timer, a failed sweep leaves
        no unhandled error, ``close()`` stops the timer.
        """
        caplog.set_level(logging.ERROR, logger="mongosession")
        unhandled: list[Any] = []
        previous_hook = threading.excepthook
        threading.excepthook = unhandled.append
        if kit.loop is not None:
            kit.loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
        threads_before = set(threading.enumerate())
        tasks_before = set(asyncio.all_tasks(kit.loop)) if kit.loop is not None else set()
        try:
            store = kit.store(
                uri=f"mongodb://127.0.0.1:{free_port()}/interval-db",
                collection="interval-test",
                auto_remove="interval",
                auto_remove_interval=0.5,
                timeout=0.2,
            )
            store.prepare()  # await intervalStore.collectionP
            if kit.loop is not None:
                timers = set(asyncio.all_tasks(kit.loop)) - tasks_before
            else:
                timers = set(threading.enumerate()) - threads_before
            assert len(timers) == 1
            deadline = time.monotonic() + 10
            failed = "periodic removal of expired sessions failed"
            while failed not in caplog.text and time.monotonic() < deadline:
                if kit.loop is not None:
                    kit.run(asyncio.sleep(0.05))
                else:
                    time.sleep(0.05)
            assert failed in caplog.text  # the timer fired and its delete failed
            assert unhandled == []
            store.close()
            if kit.loop is not None:
                assert all(task.done() for task in timers)
            else:
                assert not any(thread.is_alive() for thread in timers)
        finally:
            threading.excepthook = previous_hook
            if kit.loop is not None:
                kit.loop.set_exception_handler(None)

    def test_test_destroy_event(self, kit: Any) -> None:
        """'test destroy event'."""
        store = helper_store(kit)
        sid = "test-destroy-event"
        heard: list[str] = []
        store.on("destroy", heard.append)
        store.set(sid, make_data())
        store.destroy(sid)
        assert heard == [sid]

    # -- expiry ------------------------------------------------------------------

    def test_test_set_default_ttl(self, kit: Any, db: Any) -> None:
        """'test set default TTL'."""
        default_ttl = 10
        store = helper_store(kit, ttl=default_ttl)
        sid = "test-set-default-ttl"
        before = ms(now_ms())
        store.set(sid, make_data_no_cookie())
        doc = db["test-collection"].find_one({"_id": sid})
        after = ms(now_ms())
        expires = ms(doc["expires"])
        assert expires
        assert before + default_ttl * 1000 <= expires
        assert expires <= after + default_ttl * 1000

    def test_test_default_ttl(self, kit: Any, db: Any) -> None:
        """'test default TTL' (14 days)."""
        default_expiration = 1000 * 60 * 60 * 24 * 14
        store = helper_store(kit)
        sid = "test-no-set-default-ttl"
        before = ms(now_ms())
        store.set(sid, make_data_no_cookie())
        doc = db["test-collection"].find_one({"_id": sid})
        after = ms(now_ms())
        expires = ms(doc["expires"])
        assert expires
        assert before + default_expiration <= expires
        assert expires <= after + default_expiration

    # -- serialize / unserialize (a custom codec) -------------------------------------

    @pytest.mark.xfail(
        strict=True,
        reason=(
            "divergence: get() returns the session dict, never the codec's raw output; "
            "connect-mongo's unserialize defaults to the identity and hands back the "
            "serialized string, which reads here as a corrupt payload: no session, "
            "logged (docs/options.md#store-methods)"
        ),
    )
    def test_test_custom_serializer(self, kit: Any) -> None:
        """'test custom serializer': with no unserialize, get hands back the string."""

        class Serializer:
            def encode(self, session: Any) -> str:  # serialize: add ice, JSON.stringify
                return json.dumps({**session, "ice": "test-ice-serializer"}, separators=(",", ":"))

            def decode(self, stored: Any) -> Any:  # no unserialize: the identity
                return stored

        store = helper_store(kit, codec=Serializer())
        org_session = make_data()
        sid = "test-custom-serializer"
        store.set(sid, org_session)
        session = store.get(sid)
        assert isinstance(session, str)
        assert session is not None
        org_session["ice"] = "test-ice-serializer"
        assert session == json.dumps(org_session, separators=(",", ":"))

    def test_custom_serializer_decode_returning_a_string_reads_as_no_session(
        self, kit: Any
    ) -> None:
        """Derived from 'test custom serializer': what mongosession should do instead.

        Not an upstream case: the upstream codec's unserialize is the identity, so
        decode returns the stored string, which cannot be a session here: a corrupt
        payload, read as no session (docs/options.md#store-methods).
        """

        class RawString:
            def encode(self, session: Any) -> str:
                return json.dumps(dict(session))

            def decode(self, stored: Any) -> Any:
                return stored

        store = helper_store(kit, codec=RawString())
        store.set("raw-string", make_data())
        assert store.get("raw-string") is None

    def test_test_custom_deserializer(self, kit: Any) -> None:
        """'test custom deserializer' (serialize is then connect-mongo's object form)."""
        bson_codec = BsonCodec()

        def unserialize(stored: Any) -> Any:
            materialized = bson_codec.decode(stored)
            materialized["ice"] = "test-ice-deserializer"
            return materialized

        class Deserializer:
            def encode(self, session: Any) -> Any:
                return bson_codec.encode(session)

            def decode(self, stored: Any) -> Any:
                return unserialize(stored)

        store = helper_store(kit, codec=Deserializer())
        org_session = make_data()
        sid = "test-custom-deserializer"
        store.set(sid, org_session)
        session = store.get(sid)
        assert isinstance(session, dict)
        org_session["ice"] = "test-ice-deserializer"
        cookie = session.get("cookie")
        if isinstance(cookie, dict):  # upstream mirrors partitioned/priority as read back
            for key in ("partitioned", "priority"):
                if key in cookie:
                    org_session["cookie"][key] = cookie[key]
        assert session is not None
        assert session == org_session

    # -- touch ------------------------------------------------------------------

    def test_touch_ops(self, kit: Any, db: Any) -> None:
        """'touch ops'.

        Upstream passes the stored ``session`` field (a JSON string, read by
        connect-mongo as an object with no cookie); the Python API takes a mapping,
        so the port passes that string parsed.
        """
        store = helper_store(kit)
        sid = "test-touch"
        store.set(sid, make_data_no_cookie())
        collection = db["test-collection"]
        doc = collection.find_one({"_id": sid})
        time.sleep(0.5)
        assert doc is not None
        store.touch(sid, json.loads(doc["session"]))
        doc2 = collection.find_one({"_id": sid})
        assert doc2 is not None
        assert ms(doc2["expires"])
        assert ms(doc["expires"])
        assert ms(doc2["expires"]) > ms(doc["expires"])

    def test_touch_updates_updatedat_when_timestamps_enabled(self, kit: Any, db: Any) -> None:
        """'touch updates updatedAt when timestamps enabled' (session parsed, as above)."""
        store = helper_store(kit, timestamps=True)
        sid = "test-touch-timestamps"
        store.set(sid, make_data_no_cookie())
        collection = db["test-collection"]
        doc = collection.find_one({"_id": sid})
        initial = ms(doc["updatedAt"])
        time.sleep(0.02)
        store.touch(sid, json.loads(doc["session"]))
        touched = ms(collection.find_one({"_id": sid})["updatedAt"])
        assert initial
        assert touched
        assert touched > initial

    def test_touch_ops_with_touchafter(self, kit: Any, db: Any) -> None:
        """'touch ops with touchAfter': the raw document (with lastModified) as session."""
        store = helper_store(kit, touch_after=1)
        sid = "test-touch-with-touchAfter"
        store.set(sid, make_data_no_cookie())
        collection = db["test-collection"]
        doc = collection.find_one({"_id": sid})
        before = ms(doc["lastModified"])
        assert doc is not None
        store.touch(sid, doc)
        doc2 = collection.find_one({"_id": sid})
        assert doc2 is not None
        assert before == ms(doc2["lastModified"])

    def test_touch_ops_with_touchafter_with_touch(self, kit: Any, db: Any) -> None:
        """'touch ops with touchAfter with touch'."""
        store = helper_store(kit, touch_after=1)
        sid = "test-touch-with-touchAfter-should-touch"
        store.set(sid, make_data_no_cookie())
        collection = db["test-collection"]
        doc = collection.find_one({"_id": sid})
        before = ms(doc["lastModified"])
        time.sleep(1.2)
        assert doc is not None
        store.touch(sid, doc)
        doc2 = collection.find_one({"_id": sid})
        assert doc2 is not None
        after = ms(doc2["lastModified"])
        assert after
        assert before
        assert after > before

    def test_touchafter_throttle_keeps_updatedat_unchanged_until_threshold_when_timestamps_on(
        self, kit: Any, db: Any
    ) -> None:
        """'touchAfter throttle keeps updatedAt unchanged until threshold when timestamps on'."""
        store = helper_store(kit, touch_after=1, timestamps=True)
        sid = "touchAfter-timestamps"
        store.set(sid, make_data_no_cookie())
        collection = db["test-collection"]
        initial = ms(collection.find_one({"_id": sid})["updatedAt"])
        store.touch(sid, store.get(sid))
        assert ms(collection.find_one({"_id": sid})["updatedAt"]) == initial
        time.sleep(1.1)
        store.touch(sid, store.get(sid))
        assert ms(collection.find_one({"_id": sid})["updatedAt"]) > initial

    # -- encryption -----------------------------------------------------------------

    @pytest.mark.parametrize("adapter", ["kruptein", "webcrypto"])
    def test_cryptoadapter_conflicts_with_legacy_crypto_option(
        self, kit: Any, adapter: str
    ) -> None:
        """'cryptoAdapter conflicts with legacy crypto option'.

        The two mechanisms a Python store could be given at once are a connect-mongo
        codec and mongosession's own ``encryption_keys`` (one ``codec`` argument
        cannot hold two adapters).
        """
        codec = KrupteinCodec("secret") if adapter == "kruptein" else WebCryptoCodec("secret")
        with pytest.raises(ValueError, match="encryption_keys"):
            kit.store(codec=codec, encryption_keys=[b"k" * 32])

    def test_custom_cryptoadapter_roundtrips_session_data(self, kit: Any) -> None:
        """'custom cryptoAdapter roundtrips session data'."""
        codec = AdapterCodec(
            encrypt=lambda payload: f"enc:{payload}",
            decrypt=lambda payload: payload.removeprefix("enc:"),
        )
        store = helper_store(kit, codec=codec, collection="custom-adapter")
        sid = "adapter-roundtrip"
        original = make_data()
        store.set(sid, original)
        assert store.get(sid) == json_roundtrip(original)

    def test_kruptein_adapter_helper_merges_defaults_and_works_with_only_secret(
        self, kit: Any
    ) -> None:
        """'kruptein adapter helper merges defaults and works with only secret'."""
        store = helper_store(kit, codec=KrupteinCodec("secret"), collection="kruptein-adapter")
        sid = "kruptein-adapter"
        original = make_data()
        store.set(sid, original)
        assert store.get(sid) == json_roundtrip(original)

    @pytest.mark.parametrize(
        ("title", "collection", "options"),
        [
            pytest.param(
                "web crypto adapter encrypts and decrypts sessions",
                "webcrypto-adapter",
                {},
                id="web_crypto_adapter_encrypts_and_decrypts_sessions",
            ),
            pytest.param(
                "web crypto adapter supports base64url encoding",
                "webcrypto-base64url",
                {"encoding": "base64url"},
                id="web_crypto_adapter_supports_base64url_encoding",
            ),
            pytest.param(
                "web crypto adapter supports hex encoding",
                "webcrypto-hex",
                {"encoding": "hex"},
                id="web_crypto_adapter_supports_hex_encoding",
            ),
            pytest.param(
                "web crypto adapter derives key with PBKDF2 salt/iterations overrides",
                "webcrypto-pbkdf2",
                {"encoding": "base64url", "salt": "custom-salt", "iterations": 100_000},
                id="web_crypto_adapter_derives_key_with_pbkdf2_salt_iterations_overrides",
            ),
            pytest.param(
                "web crypto adapter supports AES-CBC algorithm",
                "webcrypto-aes-cbc",
                {"algorithm": "AES-CBC", "iv_length": 16},
                id="web_crypto_adapter_supports_aes_cbc_algorithm",
            ),
        ],
    )
    def test_web_crypto_adapter(
        self, kit: Any, title: str, collection: str, options: dict[str, Any]
    ) -> None:
        """The five 'web crypto adapter ...' cases (the title is the parameter)."""
        store = helper_store(
            kit, codec=WebCryptoCodec("sup3r-secr3t", **options), collection=collection
        )
        sid = collection.replace("-adapter", "-session")
        original = make_data()
        store.set(sid, original)
        assert store.get(sid) == json_roundtrip(original), title

    def test_cryptoadapter_works_with_default_stringify_string_payload(self, kit: Any) -> None:
        """'cryptoAdapter works with default stringify (string payload)'."""
        codec = AdapterCodec(
            encrypt=lambda payload: f"enc:{payload}",
            decrypt=lambda payload: payload.removeprefix("enc:"),
        )
        store = helper_store(kit, codec=codec, collection="crypto-default-stringify")
        sid = "crypto-default-stringify"
        original = make_data()
        store.set(sid, original)
        assert store.get(sid) == json_roundtrip(original)

    def test_cryptoadapter_works_with_stringify_false_raw_object_path(self, kit: Any) -> None:
        """'cryptoAdapter works with stringify=false (raw object path)'.

        With a cryptoAdapter, connect-mongo encrypts the JSON text of the object
        ``stringify: false`` makes: the adapter's input is JSON either way.
        """
        codec = AdapterCodec(
            encrypt=lambda payload: f"enc:{payload}",
            decrypt=lambda payload: payload.removeprefix("enc:"),
            serialize=dict,  # the raw object
        )
        store = helper_store(kit, codec=codec, collection="crypto-stringify-false")
        sid = "crypto-stringify-false"
        original = make_data_no_cookie()
        store.set(sid, original)
        assert store.get(sid) == original

    def test_cryptoadapter_works_with_custom_serialize_unserialize_functions(
        self, kit: Any
    ) -> None:
        """'cryptoAdapter works with custom serialize/unserialize functions'."""

        def unserialize(payload: Any) -> Any:
            return {k: v for k, v in payload.items() if k != "marker"}

        codec = AdapterCodec(
            encrypt=lambda payload: f"enc:{payload}",
            decrypt=lambda payload: payload.removeprefix("enc:"),
            serialize=lambda session: {**session, "marker": True},
            unserialize=unserialize,
        )
        store = helper_store(kit, codec=codec, collection="crypto-custom-serialize")
        sid = "crypto-custom-serialize"
        original = make_data()
        store.set(sid, original)
        assert store.get(sid) == json_roundtrip(original)

    def test_basic_operation_flow_with_crypto(self, kit: Any) -> None:
        """'basic operation flow with crypto' (``crypto: {secret}`` is kruptein)."""
        store = helper_store(kit, codec=KrupteinCodec("secret"), collection="crypto-test")
        org_session = make_data()
        sid = "test-basic-flow-with-crypto"
        assert store.set(sid, org_session) is None
        session = store.get(sid)
        org_session = json_roundtrip(org_session)
        assert session == org_session
        sessions = store.all()
        assert sessions is not None
        assert len(sessions) == 1

    def test_crypto_with_stringify_false_roundtrips_raw_objects(self, kit: Any) -> None:
        """'crypto with stringify=false roundtrips raw objects'.

        connect-mongo stores the same kruptein string whatever ``stringify`` (it
        encrypts JSON text); ``KrupteinCodec`` is that format.
        """
        store = helper_store(kit, codec=KrupteinCodec("secret"), collection="crypto-no-stringify")
        sid = "crypto-no-stringify"
        payload = make_data_no_cookie()
        store.set(sid, payload)
        assert store.get(sid) == payload

    # -- ids, write concern, errors -----------------------------------------------------

    def test_transformid_stores_and_retrieves_using_transformed_key(
        self, kit: Any, db: Any
    ) -> None:
        """'transformId stores and retrieves using transformed key'."""

        def transform_id(sid: str) -> str:
            return f"t-{sid}"

        store = helper_store(kit, transform_id=transform_id)
        sid = "transform-id"
        store.set(sid, make_data())
        assert db["test-collection"].find_one({"_id": transform_id(sid)})
        assert store.get(sid)

    def test_writeoperationoptions_forwarded_to_updateone(self, kit: Any) -> None:
        """'writeOperationOptions forwarded to updateOne'.

        Upstream fakes the collection and records ``updateOne``'s options; here a
        command listener records the ``update`` command sent to the real server.
        """
        updates = Updates()
        store = kit.store(
            client=kit.client(event_listeners=[updates]),
            write_concern={"w": 0},
            collection="wopts",
        )
        store.set("wopts", make_data())
        assert len(updates.calls) > 0
        assert updates.calls[0]["writeConcern"] == {"w": 0}

    def test_custom_serializer_error_surfaces_from_set(self, kit: Any) -> None:
        """'custom serializer error surfaces from set()'."""

        class Boom:
            def encode(self, session: Any) -> Any:
                raise RuntimeError("serialize-fail")

            def decode(self, stored: Any) -> Any:
                return stored

        store = helper_store(kit, codec=Boom())
        with pytest.raises(RuntimeError, match=r"^serialize-fail$"):
            store.set("serializer-error", make_data())

    @pytest.mark.xfail(strict=True, reason=DIVERGENCE_CORRUPT)
    def test_corrupted_json_payload_bubbles_error_on_get(self, kit: Any, db: Any) -> None:
        """'corrupted JSON payload bubbles error on get'."""
        store = helper_store(kit)
        store.prepare()
        db["test-collection"].insert_one({"_id": "corrupt-json", "session": "{bad json"})
        with pytest.raises((MongoSessionError, ValueError)):
            store.get("corrupt-json")

    def test_with_touch_after_and_get_non_exist_session(self, kit: Any) -> None:
        """'with touch after and get non-exist session'."""
        store = helper_store(kit, touch_after=10)
        assert store.get("fake-sid-for-test-touch-after") is None


# -- src/test/integration.spec.ts -------------------------------------------------------


async def _views(request: Request) -> JSONResponse:
    session = request.session
    views = session.get("views")
    if isinstance(views, (int, float)) and not isinstance(views, bool):
        session["views"] = views + 1
    else:
        session["views"] = 0
    return JSONResponse({"views": session["views"]})


async def _ping(request: Request) -> JSONResponse:
    return JSONResponse({"views": request.session.get("views")})


def supertest_app(store: AsyncMongoStore, **session_options: Any) -> Starlette:
    """``createSupertestAgent``'s app: GET / counts views, GET /ping reads them.

    ``session_options`` are express-session's; its defaults (``resave`` and
    ``saveUninitialized`` true, no SameSite, a browser-session cookie) unless given.
    """
    app = Starlette(routes=[Route("/", _views), Route("/ping", _ping)])
    options = {
        "secret": "foo",
        "resave": True,
        "save_uninitialized": True,
        "same_site": None,
        **session_options,
    }
    app.add_middleware(SessionMiddleware, store=store, **options)
    return app


def integration_store(uri: str, **options: Any) -> AsyncMongoStore:
    """``createSupertestAgentWithDefault``'s store: ``stringify: false``."""
    return AsyncMongoStore(uri=uri, **{"codec": "bson", **options})


class TestIntegrationSpec:
    """``src/test/integration.spec.ts`` (express-session + store, over HTTP)."""

    def test_simple_case(self, test_uri: str) -> None:
        """'simple case'."""

        async def scenario() -> None:
            store = integration_store(test_uri)
            try:
                agent = Agent(supertest_app(store))
                await agent.json("GET", "/")
                assert await agent.json("GET", "/") == {"views": 1}
            finally:
                await store.close()

        asyncio.run(scenario())

    def test_simple_case_with_touch_after(self, test_uri: str) -> None:
        """'simple case with touch after'."""

        async def scenario() -> None:
            store = integration_store(test_uri, touch_after=1)
            try:
                app = supertest_app(store, resave=False, save_uninitialized=False, rolling=True)
                agent = Agent(app)
                await agent.json("GET", "/")
                assert await agent.json("GET", "/") == {"views": 1}
                await asyncio.sleep(1.2)
                assert await agent.json("GET", "/ping") == {"views": 1}
            finally:
                await store.close()

        asyncio.run(scenario())

    def test_timestamps_option_adds_createdat_updatedat_in_integration_flow(
        self, test_uri: str, db: Any
    ) -> None:
        """'timestamps option adds createdAt/updatedAt in integration flow'."""

        async def scenario() -> None:
            store = integration_store(
                test_uri, timestamps=True, collection="integration-timestamps"
            )
            try:
                app = supertest_app(store, resave=False, save_uninitialized=False, rolling=True)
                agent = Agent(app)
                await agent.json("GET", "/")
                collection = db["integration-timestamps"]
                doc = collection.find_one({})
                assert doc["createdAt"]
                assert doc["updatedAt"]
                first_updated = ms(doc["updatedAt"])
                await asyncio.sleep(0.02)
                await agent.json("GET", "/ping")
                doc2 = collection.find_one({"_id": doc["_id"]})
                assert ms(doc2["updatedAt"]) >= first_updated
            finally:
                await store.close()

        asyncio.run(scenario())


# -- src/test/upgrade-compat.spec.ts ----------------------------------------------------

SESSION_SECRET = "upgrade-session-secret"
CRYPTO_SECRET = "upgrade-crypto-secret"
COOKIE_MAX_AGE_MS = 5 * 60 * 1000


async def _touch_views(request: Request) -> JSONResponse:
    session = request.session
    session["views"] = (session.get("views") or 0) + 1
    return JSONResponse({"views": session["views"]})


def _ttl_index(collection: Any) -> Doc | None:
    return next((i for i in collection.list_indexes() if i["name"] == "expires_1"), None)


@pytest.fixture
def _node() -> None:
    require_node()


class TestUpgradeCompatSpec:
    """``src/test/upgrade-compat.spec.ts``: sessions written by the previous store.

    Upstream seeds with connect-mongo 5.1.0 (an npm tarball in its repository) and
    reads with 6.0.0. Here the previous store is connect-mongo itself, the version the
    interop tests install (tests/interop/package-lock.json), with express-session, and
    the upgraded one is mongosession: the move these tests guard for its users.
    """

    @pytest.mark.interop
    @pytest.mark.usefixtures("_node")
    @pytest.mark.parametrize(
        "crypto",
        [
            pytest.param(False, id="upgrade_from_5_1_0_preserves_non_crypto_sessions"),
            pytest.param(True, id="upgrade_from_5_1_0_preserves_crypto_sessions"),
        ],
    )
    def test_upgrade(self, test_uri: str, db_name: str, db: Any, crypto: bool) -> None:
        """'upgrade from 5.1.0 preserves non-crypto sessions' / '... crypto sessions'."""
        assert installed_version("connect-mongo") == CONNECT_MONGO_VERSION
        collection_name = f"sessions-{'crypto' if crypto else 'plain'}"
        collection = db[collection_name]
        mode = {
            "stringify": False,
            "autoRemove": "native",
            "touchAfter": 1,
            "crypto": {"kind": "kruptein", "secret": CRYPTO_SECRET} if crypto else None,
        }
        seeded = run_node(
            "seed",
            {
                "uri": test_uri,
                "db": db_name,
                "collection": collection_name,
                "mode": mode,
                "secret": SESSION_SECRET,
                "maxAge": COOKIE_MAX_AGE_MS,
            },
        )
        cookie = seeded["cookie"]
        assert cookie, "old store should issue session cookie"
        assert seeded["views"] == 2
        ttl_before = _ttl_index(collection)
        doc_before = collection.find_one({})
        assert ttl_before, "TTL index should exist before upgrade"
        assert doc_before["expires"], "session should have an expires value"

        async def scenario() -> None:
            store = AsyncMongoStore(
                uri=test_uri,
                collection=collection_name,
                codec=KrupteinCodec(CRYPTO_SECRET) if crypto else "bson",
                touch_after=1,
                auto_remove="native",
            )
            app = Starlette(routes=[Route("/ping", _ping), Route("/touch", _touch_views)])
            app.add_middleware(
                SessionMiddleware,
                store=store,
                secret=SESSION_SECRET,
                resave=False,
                save_uninitialized=False,
                rolling=True,
                max_age=COOKIE_MAX_AGE_MS // 1000,
                same_site=None,
            )
            try:
                agent = Agent(app)
                agent.cookie = cookie.split("=", 1)[1]
                ping = await agent.json("GET", "/ping")
                assert ping["views"] == 2, "upgrade should read existing session"
                touch = await agent.json("GET", "/touch")
                assert touch["views"] >= 3, "upgrade should be able to update session"
            finally:
                await store.close()

        asyncio.run(scenario())
        doc_after = collection.find_one({})
        assert doc_after["expires"]
        delta = abs(ms(doc_after["expires"]) - (ms(now_ms()) + COOKIE_MAX_AGE_MS))
        assert delta < 10_000, "expires should respect cookie.maxAge after upgrade"
        ttl_after = _ttl_index(collection)
        assert ttl_after, "TTL index should persist after upgrade"
        assert ttl_before.get("expireAfterSeconds") == ttl_after.get("expireAfterSeconds")
        assert ttl_before["key"] == ttl_after["key"]
