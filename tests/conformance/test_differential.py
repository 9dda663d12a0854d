"""Differential test: connect-mongo and mongosession run one sequence, documents compared.

For each mode (a connect-mongo configuration and its mongosession counterpart, as
docs/options.md#from-connect-mongo maps them) the same fixed sequence of store
operations runs twice on the test's ``mongod``: by connect-mongo 6.0.0 (the npm
package tests/interop installs, driven by ``_node_store.js``) into one collection, and
by :class:`MongoStore` into another, with the same session ids, data and cookie
expiry dates. Then:

1. the stored documents are compared field by field with their BSON types (string vs
   date, int32 vs int64 vs double, null vs missing); only times that must differ
   (``lastModified``, ``createdAt``, ``updatedAt``, and ``expires`` where it comes from
   ``ttl``) are compared as "both dates, within :data:`TOLERANCE`". Encrypted payloads
   are compared by their plaintext (connect-mongo's own adapter decrypts both);
2. each operation's result and the events (``create``, ``update``, ``set``, ``touch``,
   ``destroy``) are compared;
3. each side reads the other's documents: Node's reads of mongosession's collection
   must equal its reads of its own, and the other way round; the indexes too.

Differences are failures, except those declared in CONFORMANCE.md (applied by the
normalisations below, each named after its entry). A mode with a real difference is
an ``xfail(strict=True)`` whose reason says whether it is a gap or a divergence.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from bson.int64 import Int64

from mongosession import MongoStore
from mongosession.codecs.formats import UNDEFINED_COOKIE_ATTRIBUTES
from mongosession.interop import KrupteinCodec, WebCryptoCodec
from tests.conformance._conformance import (
    CONNECT_MONGO_VERSION,
    installed_version,
    js_iso,
    now_ms,
    require_node,
    run_node,
)

pytestmark = pytest.mark.interop

TOLERANCE = timedelta(seconds=30)
SECRET = "differential secret"
DATE_FIELDS = ("expires", "lastModified", "createdAt", "updatedAt")
EVENTS = ("create", "update", "set", "touch", "destroy")


def sha256_id(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


# -- the modes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    """One configuration of both stores and the sessions its sequence writes."""

    node: dict[str, Any]
    python: Callable[[], dict[str, Any]]
    payloads: tuple[str, ...] = ("plain",)
    marks: tuple[Any, ...] = field(default=())

    @property
    def stringify(self) -> bool:
        return self.node.get("stringify", True) is not False

    @property
    def encrypted(self) -> bool:
        return self.node.get("crypto") is not None

    @property
    def touch_after(self) -> float:
        return float(self.node.get("touchAfter", 0))


def webcrypto(**options: Any) -> dict[str, Any]:
    return {"kind": "webcrypto", "secret": SECRET, "options": options}


KRUPTEIN = {"kind": "kruptein", "secret": SECRET}


def gap(reason: str) -> Any:
    return pytest.mark.xfail(strict=True, reason=f"gap: {reason}")


def divergence(reason: str) -> Any:
    return pytest.mark.xfail(strict=True, reason=f"divergence: {reason}")


MODES: dict[str, Mode] = {
    "stringify-true": Mode({}, lambda: {"codec": "json"}),
    "stringify-false": Mode(
        {"stringify": False}, lambda: {"codec": "bson"}, payloads=("plain", "dates")
    ),
    "transformId": Mode({"transformId": "sha256"}, lambda: {"transform_id": sha256_id}),
    "transformId-stringify-false": Mode(
        {"transformId": "sha256", "stringify": False},
        lambda: {"transform_id": sha256_id, "codec": "bson"},
    ),
    "crypto-webcrypto": Mode({"crypto": webcrypto()}, lambda: {"codec": WebCryptoCodec(SECRET)}),
    "crypto-webcrypto-stringify-false": Mode(
        {"crypto": webcrypto(), "stringify": False}, lambda: {"codec": WebCryptoCodec(SECRET)}
    ),
    "crypto-webcrypto-options": Mode(
        {
            "crypto": webcrypto(
                encoding="hex", ivLength=16, salt="differential-salt", iterations=1000
            )
        },
        lambda: {
            "codec": WebCryptoCodec(
                SECRET, encoding="hex", iv_length=16, salt="differential-salt", iterations=1000
            )
        },
    ),
    "crypto-webcrypto-aes-cbc": Mode(
        {"crypto": webcrypto(algorithm="AES-CBC", ivLength=16)},
        lambda: {"codec": WebCryptoCodec(SECRET, algorithm="AES-CBC", iv_length=16)},
    ),
    "crypto-kruptein": Mode({"crypto": KRUPTEIN}, lambda: {"codec": KrupteinCodec(SECRET)}),
    "crypto-kruptein-stringify-false": Mode(
        {"crypto": KRUPTEIN, "stringify": False}, lambda: {"codec": KrupteinCodec(SECRET)}
    ),
    "touchAfter": Mode({"touchAfter": 1}, lambda: {"touch_after": 1}),
    "touchAfter-stringify-false": Mode(
        {"touchAfter": 1, "stringify": False}, lambda: {"touch_after": 1, "codec": "bson"}
    ),
    "timestamps": Mode({"timestamps": True}, lambda: {"timestamps": True}),
    "ttl": Mode({"ttl": 3600}, lambda: {"ttl": 3600}, payloads=("plain", "no-cookie")),
    "autoRemove-interval": Mode(
        {"autoRemove": "interval", "autoRemoveInterval": 1},  # minutes
        lambda: {"auto_remove": "interval", "auto_remove_interval": 60},
    ),
    "autoRemove-disabled": Mode(
        {"autoRemove": "disabled"},
        lambda: {"auto_remove": "disabled"},
        payloads=("plain", "expired"),
    ),
    "writeConcern-w1": Mode(
        {"writeOperationOptions": {"w": 1}}, lambda: {"write_concern": {"w": 1}}
    ),
    "writeConcern-majority": Mode(
        {"writeOperationOptions": {"w": "majority"}},
        lambda: {"write_concern": {"w": "majority"}},
    ),
    "writeConcern-w0": Mode(
        {"writeOperationOptions": {"w": 0}}, lambda: {"write_concern": {"w": 0}}
    ),
    "stringify-true-edge": Mode(
        {}, lambda: {"codec": "json"}, payloads=("plain", "no-cookie", "bare-cookie", "keys")
    ),
    "stringify-false-bare-cookie": Mode(
        {"stringify": False},
        lambda: {"codec": "bson"},
        payloads=("plain", "no-cookie", "bare-cookie"),
    ),
    "stringify-false-keys": Mode(
        {"stringify": False}, lambda: {"codec": "bson"}, payloads=("plain", "keys")
    ),
    "stringify-true-numbers": Mode(
        {},
        lambda: {"codec": "json"},
        payloads=("plain", "floats"),
        marks=(
            divergence(
                "a Python float keeps its form in JSON (100.0, 1e+20, 1.5e-7 with orjson or "
                "1.5e-07 without, -0.0) so that Python reads a float back; JSON.stringify "
                "writes 100, 100000000000000000000, 1.5e-7, 0; both sides read the same "
                "numbers (docs/options.md#numbers)"
            ),
        ),
    ),
    "stringify-false-numbers": Mode(
        {"stringify": False},
        lambda: {"codec": "bson"},
        payloads=("plain", "floats", "big-ints"),
        marks=(
            divergence(
                "codec='bson' stores a Python int beyond int32 as int64 and an integral "
                "float as a double, so that Python reads back the type it wrote; "
                "connect-mongo stores a JavaScript number as int32 when it is an integer "
                "in int32 range, else as a double; both sides read the same numbers "
                "(docs/options.md#numbers)"
            ),
        ),
    ),
}


# -- the sessions and the sequence ------------------------------------------------------------


def full_cookie(expires: datetime) -> dict[str, Any]:
    """A cookie with every attribute set, in express-session's ``toJSON`` order."""
    return {
        "originalMaxAge": 3_600_000,
        "partitioned": False,
        "priority": "medium",
        "expires": js_iso(expires),
        "secure": False,
        "httpOnly": True,
        "domain": "example.com",
        "path": "/",
        "sameSite": "lax",
    }


def bare_cookie(expires: datetime) -> dict[str, Any]:
    """express-session's default cookie: the other attributes undefined (left out)."""
    return {"originalMaxAge": 3_600_000, "expires": js_iso(expires), "httpOnly": True, "path": "/"}


@dataclass
class Plan:
    """The fixed sequence of one mode, with its sessions and dates."""

    ops: list[dict[str, Any]]
    reads: list[dict[str, Any]]
    sessions: dict[str, dict[str, Any]]


def plan(mode: Mode) -> Plan:
    base = now_ms()
    hour = timedelta(hours=1)
    exp_a, exp_b, exp_a2, exp_a3 = base + hour, base + 2 * hour, base + 3 * hour, base + 4 * hour
    text = 'héllo ✓ "quoted" </script>\n\t\x01 😀 \u2028'
    session_a: dict[str, Any] = {
        "cookie": full_cookie(exp_a),
        "user": "alice",
        "n": 1,
        "ratio": 2.5,
        "tenth": 0.1,
        "flags": [True, False, None],
        "nested": {"a": [1, "x", {"b": None}], "empty": {}, "list": []},
        "text": text,
    }
    session_b: dict[str, Any] = {
        "cookie": full_cookie(exp_b),
        "user": "bob",
        "cart": [{"sku": "x-1", "qty": 2}],
        "n": 0,
    }
    extra: dict[str, dict[str, Any]] = {}
    if "dates" in mode.payloads:
        session_a["loginAt"] = base - hour  # a JavaScript Date / a datetime
    if "no-cookie" in mode.payloads:
        extra["C"] = {"n": 3, "note": "no cookie"}
    if "bare-cookie" in mode.payloads:
        extra["D"] = {"cookie": bare_cookie(exp_b), "x": 1}
    if "keys" in mode.payloads:
        extra["K"] = {
            "cookie": full_cookie(exp_b),
            "a.b": 1,
            "$dollar": {"x.y": 2},
            "100%": 3,
            "odd%2Ekey": 4,
            "plain": {"nested.dot": [{"$k": 1}]},
        }
    if "floats" in mode.payloads:
        extra["F"] = {
            "cookie": full_cookie(exp_b),
            "integral": 100.0,
            "large": 1e20,
            "huge": 1e21,
            "small": 1.5e-7,
            "negzero": -0.0,
        }
    if "big-ints" in mode.payloads:
        extra["I"] = {"cookie": full_cookie(exp_b), "big": 2**40, "neg": -(2**35), "small": 7}
    if "expired" in mode.payloads:
        extra["E"] = {"cookie": full_cookie(base - timedelta(minutes=1)), "n": 9}
    updated_a = {**session_a, "cookie": full_cookie(exp_a3), "n": 2, "added": {"k": "v"}}
    sleep_ms = int(mode.touch_after * 1000) + 150 if mode.touch_after else 0
    ops: list[dict[str, Any]] = [
        {"op": "set", "sid": "A", "session": session_a},
        {"op": "set", "sid": "B", "session": session_b},
        *({"op": "set", "sid": sid, "session": data} for sid, data in extra.items()),
        {"op": "get", "sid": "A"},
        {"op": "get", "sid": "B"},
        *({"op": "get", "sid": sid} for sid in extra),
        {"op": "get", "sid": "nosuch"},
        {"op": "touch", "sid": "A", "cookie": full_cookie(exp_a2)},  # inside touchAfter
        {"op": "sleep", "ms": sleep_ms},
        {"op": "get", "sid": "A"},
        {"op": "touch", "sid": "A", "cookie": full_cookie(exp_a3)},
        {"op": "get", "sid": "A"},
        {"op": "set", "sid": "A", "session": updated_a},
        {"op": "get", "sid": "A"},
        {"op": "destroy", "sid": "B"},
        {"op": "get", "sid": "B"},
        {"op": "touch", "sid": "B", "cookie": full_cookie(exp_b)},  # a session that is gone
        {"op": "all"},
        {"op": "length"},
    ]
    reads: list[dict[str, Any]] = [
        *({"op": "get", "sid": sid} for sid in ("A", "B", *extra, "nosuch")),
        {"op": "all"},
        {"op": "length"},
    ]
    sessions = {"A": updated_a, **extra}
    return Plan(ops, reads, sessions)


# -- running both sides -----------------------------------------------------------------------


def node_run(
    uri: str, db_name: str, collection: str, mode: Mode, ops: list[dict[str, Any]]
) -> dict[str, Any]:
    request = {"uri": uri, "db": db_name, "collection": collection, "mode": mode.node, "ops": ops}
    result: dict[str, Any] = run_node("store", request)
    return result


def python_run(uri: str, collection: str, mode: Mode, ops: list[dict[str, Any]]) -> dict[str, Any]:
    unacknowledged = (mode.node.get("writeOperationOptions") or {}).get("w") == 0
    results: list[dict[str, Any]] = []
    events: list[list[str]] = []
    try:
        # connect-mongo's touchAfter, 0 unless the mode sets it: mongosession's own
        # default ("auto") writes less often (CONFORMANCE.md, the differential).
        options = {"touch_after": mode.touch_after, **mode.python()}
        store = MongoStore(uri=uri, collection=collection, **options)
    except Exception as exc:  # a mode mongosession cannot take: every op fails
        return {"results": [{"error": f"store: {exc!r}"} for _ in ops], "events": events}
    for event in EVENTS:
        store.on(event, lambda sid, event=event: events.append([event, sid]))
    last_get: dict[str, Any] = {}
    try:
        for op in ops:
            try:
                value: Any = None
                kind = op["op"]
                if kind == "set":
                    store.set(op["sid"], copy.deepcopy(op["session"]))
                elif kind == "get":
                    value = store.get(op["sid"])
                    last_get[op["sid"]] = value
                elif kind == "touch":
                    # The session last read, its cookie replaced, as express-session touches.
                    session = last_get.get(op["sid"])
                    session = {} if session is None else session
                    session["cookie"] = copy.deepcopy(op["cookie"])
                    store.touch(op["sid"], session)
                elif kind == "destroy":
                    store.destroy(op["sid"])
                elif kind == "all":
                    value = list(store.all().values())
                elif kind == "length":
                    value = store.length()
                elif kind == "sleep":
                    time.sleep(op["ms"] / 1000)
                else:
                    raise AssertionError(f"unknown op {kind}")
                if unacknowledged and kind in ("set", "touch", "destroy"):
                    time.sleep(0.1)  # as _node_store.js: w: 0 answers before the write applies
                # A snapshot: a later touch changes the StoredSession it came from.
                results.append({"value": copy.deepcopy(value)})
            except Exception as exc:
                results.append({"error": repr(exc)})
    finally:
        store.close()
    return {"results": results, "events": events}


# -- comparing ------------------------------------------------------------------------------


def bson_form(value: Any) -> Any:
    """A stored value with its BSON type made explicit (documents: order ignored)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, Int64):
        return ("int64", int(value))
    if isinstance(value, int):
        return ("int32", value)
    if isinstance(value, float):
        return ("double", repr(value))
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null",)
    if isinstance(value, datetime):
        return ("date", js_iso(value))
    if isinstance(value, dict):
        return ("document", tuple(sorted((k, bson_form(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(bson_form(v) for v in value))
    return (type(value).__name__, repr(value))


def api_form(value: Any) -> Any:
    """A value as the session API hands it over: JavaScript numbers are one type."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return ("number", float(value))
    if isinstance(value, datetime):
        return ("date", js_iso(value))
    if isinstance(value, dict):
        return {k: api_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [api_form(v) for v in value]
    return (type(value).__name__, repr(value))


def node_session(value: Any, *, keep_node_form: bool = False) -> Any:
    """connect-mongo's ``get`` result in mongosession's terms (declared differences).

    With ``keep_node_form`` (Node compared with Node) connect-mongo's own form is kept,
    ``lastModified`` as "a date".

    - ``get-lastModified``: connect-mongo puts the document's ``lastModified`` into
      the session it returns (with touchAfter); mongosession carries it as
      ``StoredSession.last_modified``. Dropped (or kept as "a date" to compare Node
      with Node).
    - ``cookie-expires-date``: with ``stringify: false`` connect-mongo hands over
      ``cookie.expires`` as a Date; express-session reads it as its JSON string,
      which is what mongosession's ``get`` returns.
    - ``cookie-null-attributes``: with ``stringify: false`` connect-mongo hands over
      the cookie attributes express-session left undefined (``partitioned``,
      ``priority``, ``secure``, ``domain``, ``sameSite``) as null, and a missing
      cookie as ``cookie: null``, as stored; mongosession's ``get`` leaves them out,
      as the JSON form does. Both sides store the nulls.
    """
    if not isinstance(value, dict):
        return value
    value = dict(value)
    if "lastModified" in value:
        if keep_node_form and isinstance(value["lastModified"], datetime):
            value["lastModified"] = "<date>"
        elif not keep_node_form:
            del value["lastModified"]
    cookie = value.get("cookie")
    if "cookie" in value and cookie is None and not keep_node_form:
        del value["cookie"]
    if isinstance(cookie, dict):
        cookie = dict(cookie)
        if not keep_node_form:
            for name in UNDEFINED_COOKIE_ATTRIBUTES:
                if name in cookie and cookie[name] is None:
                    del cookie[name]
        if isinstance(cookie.get("expires"), datetime):
            cookie["expires"] = js_iso(cookie["expires"])
        value["cookie"] = cookie
    return value


def result_form(op: dict[str, Any], result: dict[str, Any], *, node: bool, keep: bool) -> Any:
    """One op's outcome, comparable across the two sides."""
    if "error" in result:
        return ("error",)
    value = result.get("value")
    if op["op"] == "get":
        return api_form(node_session(value, keep_node_form=keep) if node else value)
    if op["op"] == "all":
        sessions = [node_session(v, keep_node_form=keep) if node else v for v in value]
        return sorted((api_form(s) for s in sessions), key=repr)
    if op["op"] == "length":
        return value
    return None


def compare_results(
    ops: list[dict[str, Any]],
    left: dict[str, Any],
    right: dict[str, Any],
    *,
    left_node: bool,
    right_node: bool,
    label: str,
    declared_lengths: bool = False,
    unacknowledged: bool = False,
) -> list[str]:
    problems = []
    keep = left_node and right_node
    for index, op in enumerate(ops):
        a, b = left["results"][index], right["results"][index]
        if op["op"] == "touch" and op["sid"] == "B" and left_node != right_node:
            # Declared ``touch-missing``: connect-mongo reports an error, mongosession
            # does nothing (docs/migrating.md#from-connect-mongo). With w: 0 neither
            # side can tell, and both report nothing.
            node_side, python_side = (a, b) if left_node else (b, a)
            if ("error" not in node_side and not unacknowledged) or "error" in python_side:
                problems.append(f"{label} op {index} {op}: {a} vs {b}")
            continue
        if op["op"] == "length" and declared_lengths and left_node != right_node:
            # Declared ``length-live-only``: connect-mongo counts expired documents too,
            # mongosession only live sessions (docs/options.md#decisions).
            continue
        fa = result_form(op, a, node=left_node, keep=keep)
        fb = result_form(op, b, node=right_node, keep=keep)
        if fa != fb:
            problems.append(f"{label} op {index} {op['op']} {op.get('sid', '')}: {a!r} != {b!r}")
    return problems


def plaintexts(uri: str, db_name: str, collection: str, mode: Mode) -> dict[str, Any]:
    request = {
        "uri": uri,
        "db": db_name,
        "collection": collection,
        "mode": {**mode.node, "autoRemove": "disabled"},
        "ops": [{"op": "plaintexts"}],
    }
    value: dict[str, Any] = run_node("store", request)["results"][0]["value"]
    return value


def compare_documents(
    node_docs: dict[str, dict[str, Any]],
    python_docs: dict[str, dict[str, Any]],
    sessions: dict[str, dict[str, Any]],
    ids: dict[str, str],
    node_plain: dict[str, Any] | None,
    python_plain: dict[str, Any] | None,
) -> list[str]:
    problems = []
    if set(node_docs) != set(python_docs):
        problems.append(f"_ids: node {sorted(node_docs)} python {sorted(python_docs)}")
    for _id in sorted(set(node_docs) & set(python_docs)):
        nd, pd = node_docs[_id], python_docs[_id]
        if set(nd) != set(pd):
            problems.append(f"{_id}: fields node {sorted(nd)} python {sorted(pd)}")
        for name in sorted(set(nd) & set(pd)):
            nv, pv = nd[name], pd[name]
            if name in DATE_FIELDS:
                if not (isinstance(nv, datetime) and isinstance(pv, datetime)):
                    problems.append(f"{_id}.{name}: node {nv!r} python {pv!r} (not both dates)")
                elif abs(nv - pv) > TOLERANCE:
                    problems.append(f"{_id}.{name}: node {nv} python {pv}")
            elif name == "session" and node_plain is not None and python_plain is not None:
                if not (isinstance(nv, str) and isinstance(pv, str)):
                    problems.append(f"{_id}.session: node {nv!r} python {pv!r}")
                elif node_plain.get(_id) != python_plain.get(_id):
                    problems.append(
                        f"{_id}.session plaintext: node {node_plain.get(_id)!r} "
                        f"python {python_plain.get(_id)!r}"
                    )
            elif bson_form(nv) != bson_form(pv):
                problems.append(f"{_id}.{name}: node {nv!r} python {pv!r}")
    # An expiry from the cookie is exact on both sides.
    for sid, data in sessions.items():
        cookie = data.get("cookie")
        _id = ids[sid]
        if not isinstance(cookie, dict) or _id not in node_docs or _id not in python_docs:
            continue
        for side, docs in (("node", node_docs), ("python", python_docs)):
            expires = docs[_id].get("expires")
            if not isinstance(expires, datetime) or js_iso(expires) != cookie["expires"]:
                problems.append(f"{_id}.expires on {side}: {expires!r} != {cookie['expires']}")
    return problems


def index_form(indexes: list[dict[str, Any]]) -> list[Any]:
    # Declared ``index-background``: connect-mongo asks for background: true, which
    # MongoDB has ignored since 4.2 but lists back; "v" is the server's.
    return sorted(
        bson_form({k: v for k, v in index.items() if k not in ("v", "ns", "background")})
        for index in indexes
    )


@pytest.fixture(scope="module", autouse=True)
def _node_side() -> None:
    require_node()
    assert installed_version("connect-mongo") == CONNECT_MONGO_VERSION


@pytest.mark.parametrize(
    "mode_name", [pytest.param(name, marks=mode.marks, id=name) for name, mode in MODES.items()]
)
def test_differential(mode_name: str, test_uri: str, db_name: str, db: Any) -> None:
    """connect-mongo and mongosession, same operations, same documents, each reads the other."""
    mode = MODES[mode_name]
    steps = plan(mode)
    node_out = node_run(test_uri, db_name, "node", mode, [*steps.ops, *steps.reads])
    python_out = python_run(test_uri, "python", mode, [*steps.ops, *steps.reads])
    all_ops = [*steps.ops, *steps.reads]
    problems = compare_results(
        all_ops,
        node_out,
        python_out,
        left_node=True,
        right_node=False,
        label="node vs python",
        declared_lengths="expired" in mode.payloads,
        unacknowledged=(mode.node.get("writeOperationOptions") or {}).get("w") == 0,
    )
    if node_out["events"] != python_out["events"]:
        problems.append(f"events: node {node_out['events']} python {python_out['events']}")

    # The documents, field by field.
    node_docs = {doc["_id"]: doc for doc in db["node"].find()}
    python_docs = {doc["_id"]: doc for doc in db["python"].find()}
    transform = sha256_id if mode.node.get("transformId") else (lambda sid: sid)
    ids = {sid: transform(sid) for sid in steps.sessions}
    node_plain = python_plain = None
    if mode.encrypted:
        node_plain = plaintexts(test_uri, db_name, "node", mode)
        python_plain = plaintexts(test_uri, db_name, "python", mode)
    problems += compare_documents(
        node_docs, python_docs, steps.sessions, ids, node_plain, python_plain
    )
    if index_form(list(db["node"].list_indexes())) != index_form(list(db["python"].list_indexes())):
        problems.append(
            f"indexes: node {list(db['node'].list_indexes())} "
            f"python {list(db['python'].list_indexes())}"
        )

    # Each side reads the other's documents as it reads its own.
    node_reads_python = node_run(test_uri, db_name, "python", mode, steps.reads)
    python_reads_node = python_run(test_uri, "node", mode, steps.reads)
    own_node = {"results": node_out["results"][len(steps.ops) :]}
    own_python = {"results": python_out["results"][len(steps.ops) :]}
    problems += compare_results(
        steps.reads,
        own_node,
        node_reads_python,
        left_node=True,
        right_node=True,
        label="node reads node vs node reads python",
    )
    problems += compare_results(
        steps.reads,
        own_python,
        python_reads_node,
        left_node=False,
        right_node=False,
        label="python reads python vs python reads node",
    )
    assert not problems, "\n".join(problems)
