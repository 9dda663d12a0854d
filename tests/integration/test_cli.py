"""The `mongosession` admin command line, against the real server.

Most tests call ``main([...])`` in-process and read stdout/stderr with capsys;
a few run ``python -m mongosession`` as a real subprocess.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import types
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from mongosession import MongoStore, StoredSession, _clock
from mongosession.__main__ import main
from mongosession.cli.output import Progress
from mongosession.store.devices import DeviceInfo
from mongosession.store.inspection import stats_queries
from mongosession.testing.localdb import LocalMongod, find_mongod, free_port

USING_ENV_URI = bool(os.environ.get("MONGODB_URI"))


class Run:
    """The outcome of one command: exit status, stdout, stderr."""

    def __init__(self, status: int, out: str, err: str) -> None:
        self.status = status
        self.out = out
        self.err = err

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(test_uri: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """``cli("stats", "--json")`` runs ``mongosession --uri <this test's db> stats --json``."""

    def run(*argv: str, uri: str | None = test_uri, env_uri: str | None = None) -> Run:
        capsys.readouterr()
        prefix = ["--uri", uri] if uri else []
        if env_uri:  # given after the first options, to show they may come anywhere
            argv = (*argv[:1], "--uri", env_uri, *argv[1:])
        status = main([*prefix, *argv])
        captured = capsys.readouterr()
        return Run(status, captured.out, captured.err)

    return run


@pytest.fixture
def store(test_uri: str) -> Iterator[MongoStore]:
    """The application's store on this test's database, with a user key."""
    made = MongoStore(uri=test_uri, user_key="user")
    try:
        yield made
    finally:
        made.close()


def session(user: Any = None, **data: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"cookie": {"originalMaxAge": None, "expires": None, "path": "/"}}
    if user is not None:
        s["user"] = user
    s.update(data)
    return s


def expired_session(**data: Any) -> dict[str, Any]:
    s = session(**data)
    s["cookie"]["expires"] = _clock.to_js_iso(_clock.now() - timedelta(hours=1))
    return s


# -- stats ----------------------------------------------------------------------


def test_stats_counts_sessions_by_state_and_ranks_users(
    cli: Any, store: MongoStore, test_uri: str
) -> None:
    for i in range(3):
        store.set(f"alice-{i}", session("alice"))
    store.set("bob-0", session("bob"))
    store.set("anon", session())
    store.set("old", expired_session(user="carol"))
    store.set("gone", session("dave"))
    with MongoStore(uri=test_uri, delete_flags=True) as flagging:
        flagging.destroy("gone")

    run = cli("stats", "--json", "--top", "1")

    assert run.status == 0
    stats = run.json()
    assert stats["live"] == 5
    assert stats["expired"] == 1
    assert stats["flagged"] == 1
    assert stats["documents"] == 7
    assert stats["users"] == 2  # alice and bob have live sessions; carol's expired
    assert stats["top_users"] == [{"user": "alice", "sessions": 3}]
    assert stats["average_size"] > 50
    assert stats["ttl_index"] == "expires_1"
    assert stats["user_index"] == "user_1"
    assert stats["indexes_visible"] is True


def test_stats_prints_a_human_table(cli: Any, store: MongoStore) -> None:
    store.set("a", session("alice"))
    store.set("b", expired_session())

    run = cli("stats")

    assert run.status == 0
    assert re.search(r"^live\s+1$", run.out, re.M)
    assert re.search(r"^expired, not yet removed\s+1$", run.out, re.M)
    assert re.search(r"^alice\s+1$", run.out, re.M)


def test_stats_on_an_empty_collection(cli: Any) -> None:
    run = cli("stats", "--json")
    assert run.status == 0
    assert run.json()["documents"] == 0
    assert run.json()["average_size"] is None
    assert run.json()["ttl_index"] is None


def _stages(plan: Any) -> set[str]:
    """Every ``stage`` named anywhere in an explain output."""
    if isinstance(plan, dict):
        found = {plan["stage"]} if isinstance(plan.get("stage"), str) else set()
        return found.union(*(_stages(v) for v in plan.values()))
    if isinstance(plan, list):
        return set().union(*(_stages(v) for v in plan))
    return set()


def test_stats_reads_no_whole_collection_when_the_indexes_exist(
    cli: Any, store: MongoStore, test_uri: str, db: Database[Any]
) -> None:
    store.ensure_indexes()  # expires_1 and user_1, as the application's store makes them
    assert cli("ensure-indexes", "--flag-index").status == 0  # deleted_1
    for i in range(300):
        store.set(f"s{i}", session(f"user{i % 7}") if i % 3 else session())
    store.set("old", expired_session(user="carol"))
    with MongoStore(uri=test_uri, delete_flags=True) as flagging:
        flagging.destroy("s1")
    queries = stats_queries(_clock.now(), 10, "user_1", store.live_filter())

    plans = {
        name: db.command("explain", {"count": "sessions", "query": queries[name]})
        for name in ("expired", "flagged")
    }
    plans["users"] = db.command(
        "explain",
        {
            "aggregate": "sessions",
            "pipeline": queries["users"]["pipeline"],
            "cursor": {},
            "hint": "user_1",
        },
    )

    for name, plan in plans.items():
        stages = _stages(plan)
        assert "COLLSCAN" not in stages, (name, stages)
        assert stages & {"IXSCAN", "COUNT_SCAN"}, (name, stages)
    assert "user_1" in json.dumps(plans["users"], default=str)
    # ...and the numbers are what reading every document gives.
    stats = cli("stats", "--json").json()
    now = _clock.now()
    docs = list(db.sessions.find())
    assert stats["documents"] == len(docs) == 301
    assert stats["flagged"] == sum(d.get("deleted") is True for d in docs) == 1
    assert stats["expired"] == 1
    assert stats["live"] == sum(d.get("deleted") is not True and d["expires"] > now for d in docs)
    sizes = db.sessions.aggregate(
        [{"$group": {"_id": None, "b": {"$sum": {"$bsonSize": "$$ROOT"}}}}]
    )
    assert stats["average_size"] == round(next(sizes)["b"] / len(docs))
    live_users = Counter(
        d["user"]
        for d in docs
        if "user" in d and d.get("deleted") is not True and d["expires"] > now
    )
    top = sorted(live_users.items(), key=lambda item: (-item[1], item[0]))[:10]
    assert stats["top_users"] == [{"user": u, "sessions": n} for u, n in top]
    assert stats["users"] == len(live_users) == 7


# -- list and show ----------------------------------------------------------------


def test_list_shows_only_live_sessions_latest_expiry_first(cli: Any, store: MongoStore) -> None:
    soon = _clock.now() + timedelta(hours=1)
    later = _clock.now() + timedelta(hours=2)
    store.set("soon", session("alice", cookie={"expires": _clock.to_js_iso(soon)}))
    store.set("later", session("bob", cookie={"expires": _clock.to_js_iso(later)}))
    store.set("expired", expired_session())
    store.set("flagged", session("carol"))
    store.client.get_default_database().sessions.update_one(
        {"_id": "flagged"}, {"$set": {"deleted": True}}
    )

    run = cli("list", "--json")

    assert run.status == 0
    listed = run.json()
    assert [s["id"] for s in listed["sessions"]] == ["later", "soon"]
    assert listed["sessions"][0]["user"] == "bob"
    assert listed["sessions"][0]["expires"] == _clock.to_js_iso(later)
    assert listed["truncated"] is False


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


def test_list_and_show_name_the_device_and_its_last_activity(
    cli: Any, store: MongoStore, test_uri: str
) -> None:
    store.create("dev", StoredSession(session("alice"), device=DeviceInfo(FIREFOX, "203.0.113.7")))
    store.set("plain", session("bob"))

    table = cli("list")
    listed = {s["id"]: s for s in cli("list", "--json").json()["sessions"]}
    shown = cli("show", "dev")

    assert table.status == 0, table.err
    header, *rows = table.out.splitlines()
    assert "DEVICE" in header
    assert "LAST ACTIVE (UTC)" in header
    (row,) = [r for r in rows if r.startswith("dev ")]
    assert "Firefox 125 on Linux, 203.0.113.7" in row
    assert listed["dev"]["device"] == "Firefox 125 on Linux, 203.0.113.7"
    assert listed["dev"]["last_active"] is not None
    # No device record; its last activity is its last write (touch_after's lastModified).
    assert listed["plain"]["device"] is None
    assert listed["plain"]["last_active"] is not None
    assert f"user_agent:  {FIREFOX}\n" in shown.out
    assert "device:      Firefox 125 on Linux, 203.0.113.7\n" in shown.out
    # Sealed: without the keys the device reads as "encrypted", with them in words.
    pytest.importorskip("cryptography")
    with MongoStore(uri=test_uri, user_key="user", encryption_keys=["k" * 32]) as sealed:
        sealed.create("e1", StoredSession(session("carol"), device=DeviceInfo(FIREFOX, None)))
    assert cli("show", "e1", "--json").json()["device"] == "encrypted"
    opened = cli("show", "e1", "--json", "--encryption-key", "k" * 32).json()
    assert (opened["device"], opened["user_agent"]) == ("Firefox 125 on Linux", FIREFOX)


def test_list_by_user_matches_a_numeric_user_id(cli: Any, store: MongoStore) -> None:
    store.set("n1", session(42))
    store.set("n2", session(42))
    store.set("s1", session("42x"))

    run = cli("list", "--user", "42", "--json")

    assert run.status == 0
    assert sorted(s["id"] for s in run.json()["sessions"]) == ["n1", "n2"]
    assert {s["user"] for s in run.json()["sessions"]} == {42}


def test_list_for_a_user_without_sessions_exits_1(cli: Any, store: MongoStore) -> None:
    store.set("a", session("alice"))
    run = cli("list", "--user", "nobody")
    assert run.status == 1
    assert "no live sessions" in run.err


def test_list_limit_says_when_it_truncates(cli: Any, store: MongoStore) -> None:
    for i in range(5):
        store.set(f"s{i}", session("alice"))

    limited = cli("list", "--limit", "2", "--json").json()
    everything = cli("list", "--limit", "0", "--json").json()
    human = cli("list", "--limit", "3")

    assert limited["count"] == 2
    assert limited["truncated"] is True
    assert everything["count"] == 5
    assert everything["truncated"] is False
    assert len(human.out.strip().splitlines()) == 1 + 3
    assert "--limit 0" in human.err


def test_show_decodes_the_session_and_reports_its_state(cli: Any, store: MongoStore) -> None:
    store.set("s1", session("alice", cart=["book"]))

    shown = cli("show", "s1", "--json").json()
    human = cli("show", "s1")

    assert shown["id"] == "s1"
    assert shown["state"] == "live"
    assert shown["user"] == "alice"
    assert shown["payload"] == "json"
    assert shown["session"]["cart"] == ["book"]
    assert re.search(r"^state:\s+live$", human.out, re.M)
    assert '"cart"' in human.out


def test_show_reads_bson_payloads_and_expired_sessions(cli: Any, test_uri: str) -> None:
    with MongoStore(uri=test_uri, codec="bson") as bson_store:
        bson_store.set("b1", expired_session(**{"a.b": 1}))

    shown = cli("show", "b1", "--json").json()

    assert shown["state"] == "expired"
    assert shown["payload"] == "bson"
    assert shown["session"]["a.b"] == 1


def test_show_without_the_key_says_the_data_is_encrypted_and_exits_5(
    cli: Any, test_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography")
    monkeypatch.delenv("MONGOSESSION_ENCRYPTION_KEYS", raising=False)
    with MongoStore(uri=test_uri, encryption_keys=["secret passphrase"], user_key="user") as sealed:
        sealed.set("e1", session("alice", card="4111"))

    run = cli("show", "e1", "--json")

    assert run.status == 5
    assert run.json()["payload"] == "encrypted"
    assert run.json()["session"] is None
    assert run.json()["user"] == "alice"  # the document's own fields are still shown
    assert "4111" not in run.out
    assert "encrypted" in run.err
    assert "MONGOSESSION_ENCRYPTION_KEYS" in run.err
    assert "Traceback" not in run.err


def test_show_decrypts_with_the_keys_in_the_environment(
    cli: Any, test_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("cryptography")
    with MongoStore(uri=test_uri, encryption_keys=["old passphrase"]) as sealed:
        sealed.set("e1", session("alice", card="4111"))
    # One key per line, as the store takes a list: the newest first, the old one still opens.
    monkeypatch.setenv("MONGOSESSION_ENCRYPTION_KEYS", "new passphrase\nold passphrase\n")

    shown = cli("show", "e1", "--json")
    human = cli("show", "e1")

    assert shown.status == 0, shown.err
    assert shown.json()["payload"] == "encrypted json"
    assert shown.json()["session"]["card"] == "4111"
    assert human.status == 0
    assert '"card": "4111"' in human.out


def test_show_decrypts_bson_with_a_raw_key_given_as_an_option(cli: Any, test_uri: str) -> None:
    pytest.importorskip("cryptography")
    key = os.urandom(32)
    with MongoStore(uri=test_uri, codec="bson", encryption_keys=[key]) as sealed:
        sealed.set("e1", session("alice", **{"a.b": 1}))

    run = cli("show", "e1", "--json", "--encryption-key", f"hex:{key.hex()}")

    assert run.status == 0, run.err
    assert run.json()["payload"] == "encrypted bson"
    assert run.json()["session"]["a.b"] == 1


def test_show_with_the_wrong_key_exits_5(cli: Any, test_uri: str) -> None:
    pytest.importorskip("cryptography")
    with MongoStore(uri=test_uri, encryption_keys=["right passphrase"]) as sealed:
        sealed.set("e1", session("alice", card="4111"))

    run = cli("show", "e1", "--encryption-key", "wrong passphrase")

    assert run.status == 5
    assert "do not open it" in run.err
    assert "unknown key" in run.err  # the envelope names a key id none of ours has
    assert "4111" not in run.out
    assert "Traceback" not in run.err


HASH_KEY = "a hash key of 32 characters....."


def test_show_hash_ids_finds_a_session_by_the_cookies_id(
    cli: Any, test_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MongoStore(uri=test_uri, hash_ids=HASH_KEY, user_key="user") as hashed:
        hashed.set("the-real-session-id", session("alice"))
        [stored_id] = hashed.all()
    assert stored_id != "the-real-session-id"

    unhashed = cli("show", "the-real-session-id")
    no_key = cli("show", "the-real-session-id", "--hash-ids")
    by_option = cli("show", "the-real-session-id", "--hash-key", HASH_KEY, "--json")
    monkeypatch.setenv("MONGOSESSION_HASH_KEY", HASH_KEY)
    by_env = cli("show", "the-real-session-id", "--hash-ids", "--json")
    by_stored_id = cli("show", stored_id, "--json")  # what `list` prints still works

    assert unhashed.status == 1
    assert no_key.status == 2
    assert "MONGOSESSION_HASH_KEY" in no_key.err
    for run in (by_option, by_env, by_stored_id):
        assert run.status == 0, run.err
        assert run.json()["id"] == stored_id
        assert run.json()["session"]["user"] == "alice"


def test_show_hash_ids_with_another_key_finds_nothing(cli: Any, test_uri: str) -> None:
    with MongoStore(uri=test_uri, hash_ids=HASH_KEY) as hashed:
        hashed.set("the-real-session-id", session("alice"))

    run = cli("show", "the-real-session-id", "--hash-key", "another key of 32 characters....")

    assert run.status == 1
    assert "stored as" in run.err


def test_show_unknown_session_exits_1(cli: Any, store: MongoStore) -> None:
    run = cli("show", "nope")
    assert run.status == 1
    assert "no session 'nope'" in run.err


# -- revoke -----------------------------------------------------------------------


def test_revoke_one_session(cli: Any, store: MongoStore) -> None:
    store.set("a", session("alice"))
    store.set("b", session("alice"))

    run = cli("revoke", "a", "--yes", "--json")

    assert run.status == 0
    assert run.json() == {"revoked": 1, "flagged": False}
    assert store.get("a") is None
    assert store.get("b") is not None


def test_revoke_unknown_session_exits_1(cli: Any, store: MongoStore) -> None:
    run = cli("revoke", "nope", "--yes")
    assert run.status == 1
    assert "nothing to revoke" in run.err


def test_revoke_user_keeping_the_current_session(cli: Any, store: MongoStore) -> None:
    for i in range(50):
        store.set(f"alice-{i}", session("alice"))
    store.set("bob-0", session("bob"))

    run = cli("revoke", "--user", "alice", "--keep", "alice-7", "--yes", "--json")

    assert run.status == 0
    assert run.json()["revoked"] == 49
    assert list(store.sessions_of("alice")) == ["alice-7"]
    assert list(store.sessions_of("bob")) == ["bob-0"]
    assert all(store.get(f"alice-{i}") is None for i in range(50) if i != 7)


def test_revoke_with_flag_keeps_the_session_dead(cli: Any, store: MongoStore, db: Any) -> None:
    loaded = session("alice", n=1)
    store.set("a", loaded)

    run = cli("revoke", "a", "--flag", "--yes")

    assert run.status == 0
    assert "flagged 1" in run.out
    assert store.get("a") is None
    store.set("a", loaded)  # a slow request writing back what it loaded earlier
    assert store.get("a") is None
    assert db.sessions.find_one({"_id": "a"})["deleted"] is True


def test_revoke_all_refuses_without_a_terminal_or_yes(cli: Any, store: MongoStore) -> None:
    store.set("a", session("alice"))

    run = cli("revoke", "--all")

    assert run.status == 2
    assert "--yes" in run.err
    assert store.get("a") is not None


class FakeTerminal:
    """Stands in for a person typing ``answer`` at a terminal."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def isatty(self) -> bool:
        return True

    def readline(self) -> str:
        return self.answer


@pytest.mark.parametrize(("answer", "status", "left"), [("y\n", 0, 0), ("n\n", 1, 2), ("\n", 1, 2)])
def test_revoke_all_asks_at_a_terminal(
    cli: Any,
    store: MongoStore,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    status: int,
    left: int,
) -> None:
    store.set("a", session("alice"))
    store.set("b", session("bob"))
    monkeypatch.setattr(sys, "stdin", FakeTerminal(answer))

    run = cli("revoke", "--all")

    assert run.status == status
    assert "ALL sessions" in run.err
    assert "(2 documents)? [y/N]" in run.err
    assert store.length() == left


@pytest.mark.parametrize(
    "argv",
    [
        ["revoke"],
        ["revoke", "a", "--all"],
        ["revoke", "a", "--user", "u"],
        ["revoke", "a", "--keep", "b"],
    ],
)
def test_revoke_takes_exactly_one_target(cli: Any, argv: list[str]) -> None:
    run = cli(*argv, "--yes")
    assert run.status == 2


# -- cleanup ----------------------------------------------------------------------


def _insert_fast(db: Database[dict[str, Any]], docs: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for doc in docs:
        batch.append(doc)
        if len(batch) == 10_000:
            db.sessions.insert_many(batch, ordered=False)
            batch = []
    if batch:
        db.sessions.insert_many(batch, ordered=False)


def test_cleanup_removes_100k_ended_sessions_in_batches_with_progress(
    cli: Any, db: Database[dict[str, Any]]
) -> None:
    now = _clock.now()
    past, future = now - timedelta(minutes=5), now + timedelta(days=1)

    def documents() -> Iterator[dict[str, Any]]:
        for i in range(100_000):
            doc: dict[str, Any] = {"_id": f"ended-{i:06d}", "session": "{}", "expires": past}
            if i % 4 == 0:  # a quarter flagged and not yet expired
                doc.update(expires=future, deleted=True)
            yield doc
        for i in range(500):
            yield {"_id": f"live-{i:03d}", "session": "{}", "expires": future}

    _insert_fast(db, documents())
    db.sessions.create_index("expires", expireAfterSeconds=0)  # inserted first: faster

    started = time.monotonic()
    run = cli("cleanup", "--json")
    elapsed = time.monotonic() - started

    assert run.status == 0
    assert run.json() == {
        "flagged": 25_000,
        "expired": 75_000,
        "deleted": 100_000,
        "dry_run": False,
    }
    assert db.sessions.count_documents({}) == 500
    assert db.sessions.count_documents({"_id": {"$regex": "^live-"}}) == 500
    progress = [line for line in run.err.splitlines() if line.startswith("cleanup:")]
    assert len(progress) >= 10  # one line per 10,000-document batch, at least
    assert progress[0] == "cleanup: 0/100000 (0%)"
    assert progress[-1] == "cleanup: 100000/100000 (100%)"
    assert elapsed < 30


class TerminalBuffer(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_a_bar_on_a_terminal_and_prints_lines_otherwise() -> None:
    terminal, log = TerminalBuffer(), io.StringIO()
    for stream in (terminal, log):
        progress = Progress(1000, "cleanup", stream=stream)
        for done in range(0, 1001, 10):
            progress.update(done)
        progress.finish(1000)

    assert terminal.getvalue().count("\r") == 102
    assert terminal.getvalue().endswith("\rcleanup [####################] 1000/1000 100%\n")
    lines = log.getvalue().splitlines()
    assert len(lines) == 21  # 0 %, 5 %, ... 100 %: a short log for any size
    assert lines[0] == "cleanup: 0/1000 (0%)"
    assert lines[-1] == "cleanup: 1000/1000 (100%)"


def test_cleanup_dry_run_deletes_nothing(cli: Any, store: MongoStore) -> None:
    store.set("old", expired_session())
    store.set("new", session())

    run = cli("cleanup", "--dry-run")

    assert run.status == 0
    assert "would delete 1: 0 flagged, 1 expired" in run.out
    assert store.client.get_default_database().sessions.count_documents({}) == 2


def test_cleanup_older_than_spares_recently_flagged_sessions(cli: Any, test_uri: str) -> None:
    with MongoStore(uri=test_uri, delete_flags=True) as store:
        store.set("recent", session())
        store.set("old", session())
        store.destroy("recent")
        store.destroy("old")
        db = store.client.get_default_database()
        db.sessions.update_one(
            {"_id": "old"}, {"$set": {"deletedAt": _clock.now() - timedelta(hours=2)}}
        )

        run = cli("cleanup", "--older-than", "3600", "--json")

        assert run.status == 0
        assert run.json()["deleted"] == 1
        assert [d["_id"] for d in db.sessions.find()] == ["recent"]


def test_cleanup_with_nothing_to_do_succeeds(cli: Any, store: MongoStore) -> None:
    store.set("new", session())
    run = cli("cleanup")
    assert run.status == 0
    assert "nothing to clean up" in run.out
    assert run.err == ""


# -- ensure-indexes ---------------------------------------------------------------


def test_ensure_indexes_creates_the_ttl_and_user_indexes_once(cli: Any, db: Any) -> None:
    first = cli("ensure-indexes", "--user-index", "--json")
    second = cli("ensure-indexes", "--user-index")

    assert first.status == 0
    assert first.json()["created"] == ["expires_1", "user_1"]
    assert cli("ensure-indexes", "--flag-index", "--json").json()["created"] == ["deleted_1"]
    assert second.status == 0
    assert "index expires_1 already present" in second.out
    indexes = {ix["name"]: ix for ix in db.sessions.list_indexes()}
    assert indexes["expires_1"]["expireAfterSeconds"] == 0
    assert indexes["user_1"]["partialFilterExpression"] == {"user": {"$exists": True}}
    assert indexes["deleted_1"]["partialFilterExpression"] == {"deleted": True}


def test_ensure_indexes_reports_a_conflicting_index(cli: Any, db: Any) -> None:
    db.sessions.create_index("expires", name="expires_1", expireAfterSeconds=3600)

    run = cli("ensure-indexes")

    assert run.status == 1
    assert "expires_1" in run.err
    assert "other options" in run.err


def test_ensure_indexes_turns_on_pre_images(cli: Any, db: Any) -> None:
    run = cli("ensure-indexes", "--pre-images", "--json")

    assert run.status == 0
    assert run.json()["pre_images"] is True
    (info,) = db.list_collections(filter={"name": "sessions"})
    assert info["options"]["changeStreamPreAndPostImages"] == {"enabled": True}


# -- connection and usage errors --------------------------------------------------


def test_unreachable_server_exits_3_quickly(cli: Any) -> None:
    port = free_port()
    started = time.monotonic()

    run = cli("stats", "--timeout", "1", uri=f"mongodb://127.0.0.1:{port}/app")

    assert run.status == 3
    assert time.monotonic() - started < 5
    assert f"cannot reach MongoDB at 127.0.0.1:{port} within 1s" in run.err
    assert "Topology Description" not in run.err


def test_no_uri_is_a_usage_error(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    run = cli("stats", uri=None)
    assert run.status == 2
    assert "pass --uri or set MONGODB_URI" in run.err


def test_uri_comes_from_the_environment(
    cli: Any, store: MongoStore, test_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.set("a", session("alice"))
    monkeypatch.setenv("MONGODB_URI", test_uri)
    run = cli("list", "--json", uri=None)
    assert run.status == 0
    assert [s["id"] for s in run.json()["sessions"]] == ["a"]


def test_uri_without_a_database_needs_db(
    cli: Any, mongodb_uri: str, db_name: str, store: MongoStore
) -> None:
    store.set("a", session("alice"))
    bare = cli("list", uri=mongodb_uri)
    named = cli("list", "--json", "--db", db_name, uri=mongodb_uri)
    assert bare.status == 2
    assert "--db" in bare.err
    assert named.status == 0
    assert named.json()["count"] == 1


def test_options_work_before_and_after_the_command(
    cli: Any, store: MongoStore, test_uri: str
) -> None:
    store.set("a", session("alice"))
    before = cli("--json", "--collection", "sessions", "list", uri=None, env_uri=test_uri)
    after = cli("list", "--collection", "other", "--json")
    assert json.loads(before.out)["count"] == 1
    assert after.json()["count"] == 0


def test_no_command_prints_help_and_exits_2(cli: Any) -> None:
    run = cli(uri=None)
    assert run.status == 2
    assert "exit status" in run.err


def test_help_lists_the_exit_codes(cli: Any) -> None:
    run = cli("--help", uri=None)
    assert run.status == 0
    for code in ("0", "1", "2", "3", "4"):
        assert re.search(rf"^  {code}  \w", run.out, re.M)


# -- demo -------------------------------------------------------------------------


def test_demo_without_the_demo_module_says_so(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mongosession.demo", None)  # as if not installed
    run = cli("demo", uri=None)
    assert run.status == 2
    assert "the demo is coming with the session middleware" in run.err


def test_demo_hands_its_arguments_to_the_demo_module(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    demo = types.ModuleType("mongosession.demo")
    demo.main = lambda argv: calls.append(argv) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mongosession.demo", demo)

    run = cli("demo", "--port", "8001", uri=None)

    assert run.status == 0
    assert calls == [["--port", "8001"]]


# -- a real process -----------------------------------------------------------------


def _run_module(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mongosession", *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_python_dash_m_mongosession_runs_the_cli(store: MongoStore, test_uri: str) -> None:
    store.set("a", session("alice"))
    store.set("b", session("bob"))

    stats = _run_module("stats", "--json", env={"MONGODB_URI": test_uri})
    refused = _run_module("--uri", test_uri, "revoke", "--all")
    unreachable = _run_module(
        "--uri", f"mongodb://127.0.0.1:{free_port()}/x", "--timeout", "1", "list"
    )

    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["live"] == 2
    assert refused.returncode == 2
    assert "not a terminal" in refused.stderr
    assert store.length() == 2
    assert unreachable.returncode == 3
    assert "cannot reach MongoDB" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


# -- privileges -----------------------------------------------------------------------


class AuthMongod(LocalMongod):
    """A mongod with access control on (``--auth``)."""

    def command_line(self) -> list[str]:
        return [*super().command_line(), "--auth"]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI prefix of a second server with --auth, an admin, and two limited users."""
    if USING_ENV_URI:
        pytest.skip("permission tests start their own mongod; MONGODB_URI is set")
    root = tmp_path_factory.mktemp("authd")
    server = AuthMongod(root / "db", log_path=root / "mongod.log", mongod_path=find_mongod())
    server.start()
    try:
        # The localhost exception lets the first user be created without credentials.
        with MongoClient("127.0.0.1", server.port, directConnection=True) as client:
            client.admin.command("createUser", "root", pwd="rootpw", roles=["root"])
        admin: MongoClient[dict[str, Any]]
        with MongoClient(
            f"mongodb://root:rootpw@127.0.0.1:{server.port}/?authSource=admin"
        ) as admin:
            app = admin["app"]
            app.sessions.insert_one({"_id": "x", "session": "{}", "expires": _clock.now()})
            app.command(
                "createRole",
                "sessionsOnly",
                privileges=[
                    {
                        "resource": {"db": "app", "collection": "sessions"},
                        "actions": ["find", "insert", "update", "remove"],
                    }
                ],
                roles=[],
            )
            app.command("createUser", "web", pwd="webpw", roles=["sessionsOnly"])
            app.command("createUser", "nobody", pwd="nopw", roles=[])
        yield f"127.0.0.1:{server.port}/app?authSource=app"
    finally:
        server.stop()


def test_missing_create_index_privilege_exits_4(cli: Any, secured: str) -> None:
    run = cli("ensure-indexes", uri=f"mongodb://web:webpw@{secured}")
    assert run.status == 4
    assert "permission denied" in run.err
    assert "createIndex" in run.err


def test_missing_find_privilege_exits_4(cli: Any, secured: str) -> None:
    run = cli("list", uri=f"mongodb://nobody:nopw@{secured}")
    assert run.status == 4
    assert "permission denied on app.sessions" in run.err
    assert "may not run aggregate" in run.err


def test_limited_user_can_still_read_and_clean_up(cli: Any, secured: str) -> None:
    uri = f"mongodb://web:webpw@{secured}"
    stats = cli("stats", "--json", uri=uri)
    assert stats.status == 0
    assert stats.json()["indexes_visible"] is False
    assert cli("cleanup", "--dry-run", uri=uri).status == 0


def test_wrong_password_exits_4(cli: Any, secured: str) -> None:
    run = cli("list", uri=f"mongodb://web:wrong@{secured}")
    assert run.status == 4
    assert "authentication failed" in run.err
    assert "wrong" not in run.err
