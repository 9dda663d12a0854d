"""The command line's contract with scripts and operators (issue 14, the CLI bullet).

Every test but the last runs the real ``python -m mongosession`` process:

- a connection, DNS or configuration failure is one line on stderr, no traceback, and
  exit status 3 (connection) or 2 (usage); with ``--json`` stdout is a JSON object
  with an ``error`` field, on every failure path;
- ``--version``;
- ``list --page-size N [--after ID]``: one page in ``_id`` order, the next page's
  ``--after`` value, each page a bounded range of the ``_id`` index;
- a hint when the database or the collection does not exist;
- the store's indexes recognised by key and options, never by name;
- ``revoke --user U`` asks about the number of live sessions ``stats`` shows for U.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo.database import Database

from mongosession import MongoStore, __version__, _clock
from mongosession.__main__ import main
from mongosession.cli import commands
from mongosession.cli.output import (
    EXIT_BUG,
    EXIT_CODES,
    EXIT_NOTHING_DONE,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)
from mongosession.testing.localdb import free_port
from tests.integration.test_cli import expired_session, session

HOUR = timedelta(hours=1)


@pytest.fixture
def store(test_uri: str) -> Iterator[MongoStore]:
    """The application's store on this test's database, with a user key."""
    made = MongoStore(uri=test_uri, user_key="user")
    try:
        yield made
    finally:
        made.close()


class Run:
    """One finished process: exit status, stdout, stderr."""

    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.status = done.returncode
        self.out = done.stdout
        self.err = done.stderr

    def json(self) -> Any:
        return json.loads(self.out)

    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def mongosession(*argv: str, env: dict[str, str] | None = None) -> Run:
    """``python -m mongosession ARGV...``, no terminal on stdin, ``MONGODB_URI`` unset."""
    environment = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    done = subprocess.run(
        [sys.executable, "-m", "mongosession", *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={**environment, **(env or {})},
        check=False,
    )
    return Run(done)


def assert_one_line_failure(run: Run, status: int) -> None:
    assert run.status == status, (run.status, run.err)
    assert "Traceback" not in run.err
    assert len(run.err_lines()) == 1, run.err
    assert run.err.startswith("mongosession: ")


def assert_json_failure(run: Run, status: int) -> dict[str, Any]:
    assert run.status == status, (run.status, run.err)
    assert "Traceback" not in run.err
    body = run.json()
    assert isinstance(body, dict)
    assert isinstance(body["error"], str)
    assert body["error"]
    assert body["status"] == status
    return body


# -- connection, DNS and configuration errors: one line, 3 or 2 --------------------------------


def test_an_srv_name_that_does_not_resolve_is_one_line_and_exit_3() -> None:
    # Was: a 60-line traceback and exit 1 (PyMongo looks the name up at the first
    # operation, and raised its ConfigurationError through the command).
    uri = "mongodb+srv://nosuch.invalid/app"

    text = mongosession("--uri", uri, "--timeout", "3", "stats")
    as_json = mongosession("--uri", uri, "--timeout", "3", "stats", "--json")

    assert_one_line_failure(text, EXIT_UNAVAILABLE)
    assert "cannot resolve nosuch.invalid" in text.err
    assert text.out == ""
    body = assert_json_failure(as_json, EXIT_UNAVAILABLE)
    assert "nosuch.invalid" in body["error"]


CONFIGURATION_ERRORS = {
    "a URI scheme": ["--uri", "http://localhost/app"],
    "an unknown URI option": ["--uri", "mongodb://127.0.0.1:1/app?tsl=true"],
    "a URI option's value": ["--uri", "mongodb://127.0.0.1:1/app?tls=maybe"],
    "an unreadable TLS file": ["--uri", "mongodb://127.0.0.1:1/app?tls=true&tlsCAFile=/no/such"],
    "a database name": ["--uri", "mongodb://127.0.0.1:1/app", "--db", "a.b"],
    "a collection name": ["--uri", "mongodb://127.0.0.1:1/app", "--collection", "x.."],
    "a timeout": ["--uri", "mongodb://127.0.0.1:1/app", "--timeout", "abc"],
    "an endless timeout": ["--uri", "mongodb://127.0.0.1:1/app", "--timeout", "inf"],
    "a page size": ["--uri", "mongodb://127.0.0.1:1/app", "list", "--page-size", "x"],
    "no command": ["--uri", "mongodb://127.0.0.1:1/app"],
}


@pytest.mark.parametrize("argv", CONFIGURATION_ERRORS.values(), ids=CONFIGURATION_ERRORS.keys())
def test_a_configuration_error_is_one_line_and_exit_2(argv: list[str]) -> None:
    # Were: warnings of two lines each and exit 0 having ignored the option (an invalid
    # or unknown URI option: a misspelt tls connects in clear), tracebacks (a name
    # the driver refuses, an unreadable TLS file, --timeout inf), and argparse's usage
    # block with "invalid seconds value".
    command = [] if argv[-1] == "mongodb://127.0.0.1:1/app" or "list" in argv else ["stats"]

    text = mongosession(*argv, *command)
    as_json = mongosession(*argv, *command, "--json")

    assert text.status == EXIT_USAGE, text.err
    assert "Traceback" not in text.err
    if command or "list" in argv:  # without a command, the help comes first
        assert_one_line_failure(text, EXIT_USAGE)
    assert_json_failure(as_json, EXIT_USAGE)


def test_bad_option_values_are_named_in_plain_words() -> None:
    timeout = mongosession("--uri", "mongodb://127.0.0.1:1/app", "--timeout", "abc", "stats")
    unknown = mongosession("--uri", "mongodb://127.0.0.1:1/app?tsl=true&w=1", "stats")

    assert "argument --timeout: 'abc' is not a number of seconds" in timeout.err
    assert "_seconds" not in timeout.err
    assert "invalid seconds value" not in timeout.err
    assert "unknown option in the URI: 'tsl'" in unknown.err


def test_an_unreachable_server_answers_json_with_an_error() -> None:
    uri = f"mongodb://127.0.0.1:{free_port()}/app"
    run = mongosession("--uri", uri, "--timeout", "1", "list", "--json")
    body = assert_json_failure(run, EXIT_UNAVAILABLE)
    assert "cannot reach MongoDB" in body["error"]
    assert len(run.err_lines()) == 1


def test_no_uri_answers_json_with_an_error() -> None:
    run = mongosession("stats", "--json")
    body = assert_json_failure(run, EXIT_USAGE)
    assert "MONGODB_URI" in body["error"]


# -- --version ------------------------------------------------------------------------------------


def test_version() -> None:
    text = mongosession("--version")
    as_json = mongosession("--version", "--json")

    assert (text.status, text.out, text.err) == (EXIT_OK, f"mongosession {__version__}\n", "")
    assert as_json.status == EXIT_OK
    assert as_json.json() == {"version": __version__}


def test_the_exit_statuses_are_named_constants_in_the_help() -> None:
    run = mongosession("--help")
    assert run.status == EXIT_OK
    for code in EXIT_CODES:
        assert re.search(rf"^  {code}  \w", run.out, re.M)


# -- JSON on every path ---------------------------------------------------------------------------


def test_show_json_of_a_missing_session_is_a_json_error(test_uri: str, store: MongoStore) -> None:
    # Was: nothing at all on stdout.
    store.set("a", session("alice"))

    run = mongosession("--uri", test_uri, "show", "nope", "--json")

    body = assert_json_failure(run, EXIT_NOTHING_DONE)
    assert body["error"] == f"no session 'nope' in {store.namespace}"
    assert "hint" not in body  # the collection exists: nothing to advise
    assert len(run.err_lines()) == 1


def test_declining_revoke_with_json_still_prints_json(test_uri: str, store: MongoStore) -> None:
    store.set("a", session("alice"))
    status, out, _ = _at_a_terminal(test_uri, "revoke", "--user", "alice", "--json", answer=b"n\n")
    assert status == EXIT_NOTHING_DONE
    assert json.loads(out) == {"revoked": 0, "flagged": False}


# -- hints when the database or the collection does not exist ------------------------------------


def test_stats_on_a_misspelt_database_says_so(
    mongodb_uri: str, db_name: str, store: MongoStore
) -> None:
    # Was: zeros, and nothing to tell a typo from an empty collection.
    store.set("a", session("alice"))
    typo = f"{db_name}x"

    text = mongosession("--uri", mongodb_uri, "--db", typo, "stats")
    as_json = mongosession("--uri", mongodb_uri, "--db", typo, "stats", "--json")
    right = mongosession("--uri", mongodb_uri, "--db", db_name, "stats", "--json")

    assert text.status == EXIT_OK
    assert re.search(r"^live\s+0$", text.out, re.M)
    assert f"database '{typo}' does not exist; did you mean '{db_name}'?" in text.err
    assert as_json.status == EXIT_OK
    assert as_json.json()["documents"] == 0
    assert f"database '{typo}' does not exist" in as_json.json()["hint"]
    assert as_json.err == ""
    assert "hint" not in right.json()
    assert right.err == ""


def test_a_misspelt_collection_gets_a_hint_in_list_show_and_revoke(
    test_uri: str, store: MongoStore
) -> None:
    store.set("a", session("alice"))
    wrong = ("--uri", test_uri, "--collection", "sesions")

    listed = mongosession(*wrong, "list", "--json")
    shown = mongosession(*wrong, "show", "a")
    revoked = mongosession(*wrong, "revoke", "a", "--yes", "--json")
    empty_but_there = mongosession("--uri", test_uri, "list", "--user", "nobody")

    advice = "has no collection 'sesions'; did you mean 'sessions'?"
    assert listed.status == EXIT_OK
    assert advice in listed.json()["hint"]
    assert shown.status == EXIT_NOTHING_DONE
    assert advice in shown.err
    assert len(shown.err_lines()) == 1
    assert revoked.status == EXIT_NOTHING_DONE
    assert advice in revoked.json()["hint"]
    assert "hint" not in empty_but_there.err


# -- indexes: by key and options, not by name ----------------------------------------------------


def test_a_ttl_index_under_another_name_is_reported_by_its_name(
    test_uri: str, db: Database[Any]
) -> None:
    # Was: "index expires_1 already present", an index no one can find by that name.
    db.sessions.create_index("expires", name="sessions_ttl", expireAfterSeconds=0)

    text = mongosession("--uri", test_uri, "ensure-indexes")
    as_json = mongosession("--uri", test_uri, "ensure-indexes", "--json")
    stats = mongosession("--uri", test_uri, "stats", "--json")

    assert text.status == EXIT_OK, text.err
    assert "index sessions_ttl already present" in text.out
    assert "expires_1" not in text.out
    assert as_json.json()["present"] == ["sessions_ttl"]
    assert stats.json()["ttl_index"] == "sessions_ttl"
    assert stats.json()["ttl_index_problem"] is None
    assert {ix["name"] for ix in db.sessions.list_indexes()} == {"_id_", "sessions_ttl"}


@pytest.mark.parametrize("name", ["expires_1", "expiry"])
def test_a_ttl_index_with_other_options_is_wrong_whatever_its_name(
    test_uri: str, db: Database[Any], name: str
) -> None:
    # Was: stats named it as the TTL index (any expireAfterSeconds would do).
    db.sessions.create_index("expires", name=name, expireAfterSeconds=3600)
    db.sessions.insert_one({"_id": "a", "session": "{}", "expires": _clock.now() + HOUR})

    stats = mongosession("--uri", test_uri, "stats", "--json")
    text = mongosession("--uri", test_uri, "stats")
    ensure = mongosession("--uri", test_uri, "ensure-indexes", "--json")

    assert stats.status == EXIT_OK
    assert stats.json()["ttl_index"] is None
    problem = stats.json()["ttl_index_problem"]
    assert f"'{name}'" in problem
    assert "expireAfterSeconds 3600 (the store needs 0)" in problem
    assert re.search(rf"^TTL index on expires\s+wrong: index '{name}' has", text.out, re.M)
    assert ensure.status == EXIT_NOTHING_DONE
    assert name in assert_json_failure(ensure, EXIT_NOTHING_DONE)["error"]


def test_a_per_user_index_that_is_not_partial_is_wrong(test_uri: str, db: Database[Any]) -> None:
    db.sessions.create_index("user", name="user_1")
    db.sessions.insert_one({"_id": "a", "session": "{}", "expires": _clock.now() + HOUR})

    stats = mongosession("--uri", test_uri, "stats", "--json").json()

    assert stats["user_index"] is None
    assert "partialFilterExpression none" in stats["user_index_problem"]


# -- counts that agree ----------------------------------------------------------------------------


def _at_a_terminal(uri: str, *argv: str, answer: bytes) -> tuple[int, str, str]:
    """Run the command with a terminal on stdin, typing ``answer``."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mongosession", "--uri", uri, *argv],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.write(controller, answer)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    return proc.returncode, out.decode(), err.decode()


def test_revoke_user_asks_about_the_live_sessions_stats_counts(
    test_uri: str, store: MongoStore, db: Database[Any]
) -> None:
    # Was: the question counted every document of the user (expired and flagged ones
    # too), stats only the live ones: 1,667 against 1,550.
    for i in range(12):
        store.set(f"alice-{i:02d}", session("alice"))
    for i in range(3):
        store.set(f"alice-old-{i}", expired_session(user="alice"))
    with MongoStore(uri=test_uri, user_key="user", delete_flags=True) as flagging:
        for i in range(2):
            flagging.set(f"alice-gone-{i}", session("alice"))
            flagging.destroy(f"alice-gone-{i}")
    store.set("bob-0", session("bob"))
    # One more begun two hours ago: live to a store without absolute_lifetime.
    store.set("alice-long", session("alice"))
    db.sessions.update_one({"_id": "alice-long"}, {"$set": {"createdAt": _clock.now() - 2 * HOUR}})

    for options, live in (((), 13), (("--absolute-lifetime", "3600"), 12)):
        stats = mongosession("--uri", test_uri, *options, "stats", "--json", "--top", "100")
        counted = {u["user"]: u["sessions"] for u in stats.json()["top_users"]}
        # The TTL monitor may remove the expired ones at any moment: every document of
        # alice is what exists between these two counts.
        most = db.sessions.count_documents({"user": "alice"})
        status, _, err = _at_a_terminal(
            test_uri, *options, "revoke", "--user", "alice", answer=b"n\n"
        )
        least = db.sessions.count_documents({"user": "alice"})
        assert counted["alice"] == live
        assert status == EXIT_NOTHING_DONE
        asked = re.search(r"\((\d+) live sessions, and (\d+) ended documents", err)
        assert asked is not None, err
        assert int(asked.group(1)) == counted["alice"]
        assert least <= int(asked.group(1)) + int(asked.group(2)) <= most <= 18
        assert most >= 15  # the live sessions and the flagged ones are never removed

    revoked = mongosession("--uri", test_uri, "revoke", "--user", "alice", "--yes", "--json")

    assert revoked.status == EXIT_OK, revoked.err
    assert revoked.json() == {"revoked": 13, "flagged": False}
    assert "also deleted 5 ended documents" in revoked.err
    assert db.sessions.count_documents({"user": "alice"}) == 0
    assert store.get("bob-0") is not None


# -- paging ---------------------------------------------------------------------------------------


def test_list_pages_in_id_order_with_the_next_after_value(test_uri: str, db: Database[Any]) -> None:
    now = _clock.now()
    db.sessions.insert_many(
        [{"_id": f"s{i}", "session": "{}", "expires": now + HOUR, "user": "u"} for i in range(7)]
    )
    db.sessions.insert_one({"_id": "s35", "session": "{}", "expires": now - HOUR})  # ended

    first = mongosession("--uri", test_uri, "list", "--page-size", "3")
    second = mongosession("--uri", test_uri, "list", "--page-size", "3", "--after", "s2")
    last = mongosession("--uri", test_uri, "list", "--page-size", "3", "--after", "s5", "--json")

    assert first.status == EXIT_OK
    assert [line.split()[0] for line in first.out.splitlines()[1:]] == ["s0", "s1", "s2"]
    assert first.err == "(next page: --page-size 3 --after s2)\n"
    assert [line.split()[0] for line in second.out.splitlines()[1:]] == ["s3", "s4", "s5"]
    assert "--after s5" in second.err
    assert last.json()["next"] is None
    assert [s["id"] for s in last.json()["sessions"]] == ["s6"]
    assert last.json()["truncated"] is False


def test_list_pages_through_ids_of_other_types(test_uri: str, db: Database[Any]) -> None:
    now = _clock.now()
    stored = [7, "a", "b", ObjectId(), ObjectId()]
    db.sessions.insert_many([{"_id": i, "session": "{}", "expires": now + HOUR} for i in stored])

    seen: list[Any] = []
    after: list[str] = []
    while True:
        page = mongosession("--uri", test_uri, "list", "--page-size", "2", "--json", *after)
        assert page.status == EXIT_OK, page.err
        seen += [s["id"] for s in page.json()["sessions"]]
        if page.json()["next"] is None:
            break
        next_id = page.json()["next"]
        after = ["--after", next_id if isinstance(next_id, str) else json.dumps(next_id)]

    assert seen == [7, "a", "b", str(stored[3]), str(stored[4])]


def test_list_next_page_hint_pastes_back_into_a_shell(test_uri: str, db: Database[Any]) -> None:
    now = _clock.now()
    odd = ["a'b \x1b[2Jc", "a\nnext", "plain"]  # quotes, spaces, controls
    db.sessions.insert_many([{"_id": i, "session": "{}", "expires": now + HOUR} for i in odd])

    first = mongosession("--uri", test_uri, "list", "--page-size", "1")
    (hint,) = first.err_lines()
    options = hint.removeprefix("(next page: ").removesuffix(")")
    assert "\x1b" not in hint
    # bash reads the hint's quoting ('...' and $'...') back to the id itself.
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    script = f'"$0" -m mongosession --uri "$1" list --json {options}'
    second = subprocess.run(
        [bash, "-c", script, sys.executable, test_uri],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert second.returncode == EXIT_OK, second.stderr
    assert [s["id"] for s in json.loads(second.stdout)["sessions"]] == [sorted(odd)[1]]


def test_paging_through_10k_sessions_returns_each_once_and_each_page_is_an_id_range(
    test_uri: str, db: Database[Any]
) -> None:
    now = _clock.now()
    live = [f"s{i:05d}" for i in range(10_000)]
    ended = [f"s{i:05d}x" for i in range(0, 10_000, 50)]  # 200 ended, spread among them
    db.sessions.insert_many(
        [{"_id": sid, "session": "{}", "expires": now + HOUR} for sid in live]
        + [{"_id": sid, "session": "{}", "expires": now - HOUR} for sid in ended]
    )
    db.sessions.create_index("expires", name="expires_1", expireAfterSeconds=0)
    db.command("profile", 2)
    try:
        pages: list[list[str]] = []
        after: list[str] = []
        while True:
            run = mongosession("--uri", test_uri, "list", "--page-size", "1000", "--json", *after)
            assert run.status == EXIT_OK, run.err
            body = run.json()
            pages.append([s["id"] for s in body["sessions"]])
            if body["next"] is None:
                break
            assert body["next"] == pages[-1][-1]
            after = ["--after", body["next"]]
    finally:
        db.command("profile", 0)

    seen = [sid for page in pages for sid in page]
    assert seen == live  # every live id once, in _id order, none ended
    assert [len(page) for page in pages] == [1000] * 10
    # What the server did for each page: read along the _id index from the last id,
    # about a page of keys and documents (the 20 ended ones in it are read and
    # skipped), never the whole collection, never a sort.
    reads = list(
        db["system.profile"].find(
            {
                "ns": f"{db.name}.sessions",
                "appName": "mongosession",
                "op": {"$in": ["command", "getmore"]},
            }
        )
    )
    aggregates = [r for r in reads if r["op"] == "command" and "aggregate" in r["command"]]
    assert len(aggregates) == 10
    for record in aggregates:
        assert record["planSummary"] == "IXSCAN { _id: 1 }", record["planSummary"]
    by_cursor: dict[Any, dict[str, int]] = {}
    for record in reads:
        key = record.get("cursorid") or id(record)
        totals = by_cursor.setdefault(key, {"keys": 0, "docs": 0})
        totals["keys"] += record.get("keysExamined", 0)
        totals["docs"] += record.get("docsExamined", 0)
    assert sum(t["keys"] for t in by_cursor.values()) <= 10_200 + 10 * 2
    assert sum(t["docs"] for t in by_cursor.values()) <= 10_200 + 10 * 2
    assert all(t["keys"] <= 1_000 + 25 for t in by_cursor.values())


def test_a_bug_with_json_still_prints_a_json_error(
    test_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In process: replacing a command with a failing one is the only way to a bug.
    def failing(store: MongoStore, args: Any) -> int:
        raise RuntimeError("no such luck")

    monkeypatch.setattr(commands, "cmd_stats", failing)

    status = main(["--uri", test_uri, "stats", "--json"])

    captured = capsys.readouterr()
    assert status == EXIT_BUG
    assert captured.err.startswith("Traceback (most recent call last):\n")
    assert json.loads(captured.out) == {"error": "RuntimeError: no such luck", "status": EXIT_BUG}
