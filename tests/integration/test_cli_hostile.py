"""The admin command line facing what web users and other applications stored.

Issue 11, findings 3 and 4. Every behaviour test runs the real ``python -m mongosession``
process against the test server, with the documents put there the way an attacker gets
them there: a user name or session data sent through the application's store, an id
written by another application sharing the collection (connect-mongo checks no id), a
date past year 9999 written by JavaScript (``new Date(8.64e15)`` is legal there).

- Text output never carries a raw control character from the database: no escape
  sequence retitles or clears the operator's terminal, no newline forges a table row.
- A document with a date Python cannot hold is listed and shown as ``unreadable``; no
  command fails on it, and ``--json`` stays valid JSON.
"""

from __future__ import annotations

import codecs
import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import bson
import pytest
from bson import json_util
from bson.codec_options import DatetimeConversion
from pymongo.database import Database

from mongosession import MongoStore, StoredSession, _clock
from mongosession.__main__ import main
from mongosession.cli import commands
from mongosession.cli.output import printable
from mongosession.store.devices import DeviceInfo
from tests.integration.test_cli import session

#: A user name as a web user can choose it: retitles the terminal (OSC 0), clears the
#: screen (ED 2), homes the cursor, then forges a row of ``list`` on a line of its own;
#: with DEL, C1 NEL and CSI, and the Unicode line separator after it.
EVIL = (
    "\x1b]0;owned\x07\x1b[2J\x1b[H\nroot  forged  9999-12-31 23:59:59Z  1 B\x7f\x85\x9b2J\u2028end"
)
#: How the text output shows it: escapes as Python and bash's ``$'...'`` read them.
EVIL_SHOWN = r"\x1b]0;owned\x07\x1b[2J\x1b[H\nroot  forged  9999-12-31 23:59:59Z  1 B\x7f\u0085\u009b2J\u2028end"
#: An id as another application sharing the collection may store it.
EVIL_ID = "sid\x1b[31m\r\x1b[Kforged\x9d0;x\x9c"
EVIL_ID_SHOWN = r"sid\x1b[31m\r\x1b[Kforged\u009d0;x\u009c"

#: A BSON date in year 11476: JavaScript writes it, no Python datetime holds it.
FAR = bson.DatetimeMS(300_000_000_000_000)
#: And one before year 1.
BEFORE_YEAR_ONE = bson.DatetimeMS(-70_000_000_000_000)

#: What the issue names: C0, DEL, C1, and the Unicode line and paragraph separators.
CONTROLS = {chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]} | {"\u2028", "\u2029"}


def assert_no_raw_control(text: str) -> None:
    """Fail on the first control character in ``text`` other than a line break.

    Checked one character at a time: the ones the issue names, and anything else
    Python does not call printable (format characters, lone surrogates...).
    """
    for i, char in enumerate(text):
        if char != "\n" and (char in CONTROLS or not char.isprintable()):
            pytest.fail(f"raw {char!r} at {i}: {text[max(0, i - 60) : i + 20]!r}")


class Run:
    """One finished process: exit status, stdout and stderr as written.

    Read as bytes and decoded here: text mode would turn a raw ``\\r`` into ``\\n``.
    """

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout.decode()
        self.stderr = stderr.decode()


def mongosession(uri: str, *argv: str) -> Run:
    """``python -m mongosession --uri URI ARGV...``, no terminal on stdin."""
    done = subprocess.run(
        [sys.executable, "-m", "mongosession", "--uri", uri, *argv],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def app_store(test_uri: str) -> Iterator[MongoStore]:
    """The web application's store, which copies the user into the document."""
    made = MongoStore(uri=test_uri, user_key="user")
    try:
        yield made
    finally:
        made.close()


def future(days: int = 1) -> Any:
    return _clock.now() + timedelta(days=days)


def past() -> Any:
    return _clock.now() - timedelta(hours=1)


# -- the escaping itself (no server) -------------------------------------------------------


def test_printable_escapes_every_unprintable_character_and_nothing_else() -> None:
    every = "".join(chr(c) for c in range(0x3000)) + "\ud800\udfff\U0001f600"

    shown = printable(every)

    assert shown.isprintable()  # not even a line break is left
    assert printable("\x1b") == r"\x1b"
    assert printable("\n\r\t\\") == r"\n\r\t\\"
    assert printable("\x7f\x85\x9b\u2028\u202e") == r"\x7f\u0085\u009b\u2028\u202e"
    assert printable("Zoë 日本 😀 a-b_c.d") == "Zoë 日本 😀 a-b_c.d"  # printable text as is
    # Invisible characters too: "al\u200bice" must not pass for "alice".
    assert printable("al\u200bice\u00a0\U000e0041") == r"al\u200bice\u00a0\U000e0041"
    # One-to-one: the escapes read back (Python's or bash's $'...') give the value again.
    assert codecs.decode(shown.encode("latin-1", "backslashreplace"), "unicode_escape") == every


# -- finding 3: text output escapes database values ---------------------------------------------


def test_list_escapes_hostile_users_and_ids_and_forges_no_row(
    app_store: MongoStore, test_uri: str, db: Database[dict[str, Any]]
) -> None:
    app_store.set("plain", session(EVIL, note=EVIL))
    db.sessions.insert_one({"_id": EVIL_ID, "session": "{}", "expires": future(), "user": "bob"})

    run = mongosession(test_uri, "list")

    assert run.returncode == 0, run.stderr
    assert_no_raw_control(run.stdout)
    assert_no_raw_control(run.stderr)
    lines = run.stdout.splitlines()
    assert len(lines) == 1 + 2  # the header and two rows: no forged one
    assert not any(line.startswith("root") for line in lines)
    assert EVIL_SHOWN in run.stdout
    assert EVIL_ID_SHOWN in run.stdout
    assert "\x1b" not in run.stdout


def test_list_and_show_escape_a_hostile_user_agent(app_store: MongoStore, test_uri: str) -> None:
    # A User-Agent header is whatever the client sends; record_devices keeps it.
    device = DeviceInfo(EVIL, "203.0.113.7")
    app_store.create("plain", StoredSession(session("alice"), device=device))

    listed = mongosession(test_uri, "list")
    shown = mongosession(test_uri, "show", "plain")
    as_json = mongosession(test_uri, "show", "plain", "--json")

    for run in (listed, shown, as_json):
        assert run.returncode == 0, run.stderr
        assert_no_raw_control(run.stdout)
        assert_no_raw_control(run.stderr)
        assert "\x1b" not in run.stdout
    lines = listed.stdout.splitlines()
    assert len(lines) == 1 + 1  # the header and the one row: no forged one
    assert not any(line.startswith("root") for line in lines)
    assert r"\x1b]0;owned\x07" in listed.stdout  # the start of it, cut and escaped
    assert "203.0.113.7" in listed.stdout
    assert f"user_agent:  {EVIL_SHOWN}\n" in shown.stdout
    assert json.loads(as_json.stdout)["user_agent"] == EVIL


def test_list_by_a_hostile_user_name_escapes_the_note_on_stderr(test_uri: str) -> None:
    run = mongosession(test_uri, "list", "--user", EVIL)

    assert run.returncode == 1
    assert_no_raw_control(run.stderr)
    assert EVIL_SHOWN in run.stderr


def test_stats_escapes_hostile_users_and_index_names(
    app_store: MongoStore, test_uri: str, db: Database[dict[str, Any]]
) -> None:
    app_store.set("a", session(EVIL))
    app_store.set("b", session(EVIL))
    app_store.set("c", session("alice"))
    db.sessions.drop_indexes()
    db.sessions.create_index("expires", name="ttl\x1b[2J\nforged", expireAfterSeconds=0)

    run = mongosession(test_uri, "stats")

    assert run.returncode == 0, run.stderr
    assert_no_raw_control(run.stdout)
    assert not any(line.startswith(("root", "forged")) for line in run.stdout.splitlines())
    assert f"{EVIL_SHOWN}  2" in run.stdout
    assert r"ttl\x1b[2J\nforged" in run.stdout


def test_show_escapes_the_id_the_user_and_the_session_data(
    app_store: MongoStore, test_uri: str, db: Database[dict[str, Any]]
) -> None:
    data = session(EVIL, note=EVIL, **{"key\x1b[2J": "\x7f"})
    app_store.set("plain", data)
    db.sessions.insert_one(
        {"_id": EVIL_ID, "session": "not json \x1b[2J", "expires": past(), "user": EVIL}
    )

    shown = mongosession(test_uri, "show", "plain")
    odd = mongosession(test_uri, "show", EVIL_ID)

    for run in (shown, odd):
        assert run.returncode == 0, run.stderr
        assert_no_raw_control(run.stdout)
        assert_no_raw_control(run.stderr)
        assert f"user:        {EVIL_SHOWN}\n" in run.stdout
    assert f"id:          {EVIL_ID_SHOWN}\n" in odd.stdout
    # The data is JSON, its escapes JSON's: it reads back as what was stored.
    block = shown.stdout.split("session:\n", 1)[1]
    assert json.loads(block) == data
    assert r"\u001b]0;owned\u0007" in block
    assert r"\u007f\u0085\u009b2J\u2028end" in block


def test_json_output_escapes_del_and_c1_and_reads_back_the_values(
    app_store: MongoStore, test_uri: str, db: Database[dict[str, Any]]
) -> None:
    app_store.set("plain", session(EVIL, note=EVIL))
    db.sessions.insert_one({"_id": EVIL_ID, "session": "{}", "expires": future(), "user": EVIL})

    runs = {
        "list": mongosession(test_uri, "list", "--json"),
        "stats": mongosession(test_uri, "stats", "--json"),
        "show": mongosession(test_uri, "show", "plain", "--json"),
        "show id": mongosession(test_uri, "show", EVIL_ID, "--json"),
    }

    for name, run in runs.items():
        assert run.returncode == 0, (name, run.stderr)
        assert_no_raw_control(run.stdout)
    listed = json.loads(runs["list"].stdout)["sessions"]
    assert {s["id"] for s in listed} == {"plain", EVIL_ID}
    assert {s["user"] for s in listed} == {EVIL}
    assert json.loads(runs["stats"].stdout)["top_users"] == [{"user": EVIL, "sessions": 2}]
    assert json.loads(runs["show"].stdout)["session"]["note"] == EVIL
    assert json.loads(runs["show id"].stdout)["id"] == EVIL_ID


def test_the_revoke_question_escapes_what_it_names(app_store: MongoStore, test_uri: str) -> None:
    app_store.set("a", session(EVIL))
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mongosession", "--uri", test_uri, "revoke", "--user", EVIL],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.write(controller, b"n\n")  # the operator declines
        raw_out, raw_err = proc.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)

    out, err = raw_out.decode(), raw_err.decode()
    assert proc.returncode == 1, err
    assert_no_raw_control(out + err)
    assert f"delete the sessions of user '{EVIL_SHOWN}' (1 document)? [y/N]" in err
    assert app_store.get("a") is not None


def test_cleanup_and_revoke_reports_escape_what_they_name(
    app_store: MongoStore, test_uri: str
) -> None:
    app_store.set("a", session(EVIL))

    nothing = mongosession(test_uri, "revoke", "--user", EVIL + "x", "--yes")
    revoked = mongosession(test_uri, "revoke", "--user", EVIL, "--yes")
    cleaned = mongosession(test_uri, "cleanup")

    assert (nothing.returncode, revoked.returncode, cleaned.returncode) == (1, 0, 0)
    for run in (nothing, revoked, cleaned):
        assert_no_raw_control(run.stdout + run.stderr)
    assert f"no match for the sessions of user '{EVIL_SHOWN}x'" in nothing.stderr


def test_watch_escapes_the_id_and_the_user_of_each_event(rs_uri: str) -> None:
    argv = [sys.executable, "-m", "mongosession", "--uri", rs_uri, "watch", "--count", "1"]
    text = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    as_json = subprocess.Popen([*argv, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs = (text, as_json)
    try:
        with MongoStore(uri=rs_uri) as store:
            sessions = store.client.get_default_database().sessions
            # Each process opens its stream at some point: end sessions until both report one.
            deadline = time.monotonic() + 30
            n = 0
            while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
                doc = {"_id": f"{EVIL_ID}{n}", "session": "{}", "expires": future(), "user": EVIL}
                sessions.insert_one(doc)
                sessions.delete_one({"_id": doc["_id"]})
                n += 1
                time.sleep(0.2)
        results = [p.communicate(timeout=10) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    (out, err), (json_out, json_err) = ((o.decode(), e.decode()) for o, e in results)
    assert text.returncode == 0, err
    assert as_json.returncode == 0, json_err
    assert_no_raw_control(out + err + json_out + json_err)
    (line,) = out.splitlines()
    assert EVIL_ID_SHOWN in line
    assert f"user={EVIL_SHOWN}" in line
    record = json.loads(json_out)
    assert record["id"].startswith(EVIL_ID)
    assert record["user"] == EVIL


def test_an_unexpected_error_quoting_a_value_is_reported_escaped(
    test_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(store: MongoStore, args: Any) -> int:
        raise RuntimeError(f"cannot handle the user {EVIL}")

    monkeypatch.setattr(commands, "cmd_stats", failing)  # a bug, in process: no other way in

    status = main(["--uri", test_uri, "stats"])

    err = capsys.readouterr().err
    assert status == 1  # what Python's own exit on an uncaught exception would be
    assert_no_raw_control(err)
    assert err.startswith("Traceback (most recent call last):\n")
    assert err.endswith(f"RuntimeError: cannot handle the user {EVIL_SHOWN}\n")


# -- finding 4: dates no Python datetime can hold ---------------------------------------------


@pytest.fixture
def odd_dates(app_store: MongoStore, db: Database[dict[str, Any]]) -> None:
    """A live session with an expiry in year 11476, one created before year 1, both
    flagged and expired ones with odd dates, and a plain live one."""
    payload = json.dumps(session("alice", cart=["book"]))
    db.sessions.insert_many(
        [
            {"_id": "far", "session": payload, "expires": FAR, "user": "alice"},
            {
                "_id": "born-early",
                "session": payload,
                "expires": future(),
                "createdAt": BEFORE_YEAR_ONE,
                "lastModified": FAR,
                "user": "alice",
            },
            {
                "_id": "flagged-far",
                "session": payload,
                "expires": past(),
                "deleted": True,
                "deletedAt": FAR,
            },
            {"_id": "old", "session": payload, "expires": past(), "userSince": FAR},
        ]
    )
    app_store.set("plain", session("carol"))
    # These tests read the expired and flagged documents above; MongoDB's TTL monitor
    # (once a minute) removed them now and then in the middle of a test. The TTL
    # index is not what they are about: without it the documents stay put.
    db.sessions.drop_index([("expires", 1)])


@pytest.mark.usefixtures("odd_dates")
def test_list_marks_a_document_with_an_odd_date_unreadable(test_uri: str) -> None:
    human = mongosession(test_uri, "list")
    listed = mongosession(test_uri, "list", "--json")

    assert human.returncode == 0, human.stderr
    assert "Traceback" not in human.stderr
    rows = {line.split()[0]: line.split() for line in human.stdout.splitlines()[1:]}
    assert set(rows) == {"far", "born-early", "plain"}
    assert rows["far"][2] == "unreadable"
    assert "300000000000000" in " ".join(rows["far"])
    assert rows["born-early"][2] == "unreadable"
    assert rows["plain"][2] == "live"
    assert "unreadable" in human.stderr  # a note says what that means
    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    by_id = {s["id"]: s for s in body["sessions"]}
    assert by_id["far"]["state"] == "unreadable"
    assert by_id["far"]["expires"] == {"$date": {"$numberLong": "300000000000000"}}
    assert by_id["born-early"]["created"] == {"$date": {"$numberLong": "-70000000000000"}}
    assert by_id["plain"]["state"] == "live"
    as_dates = json_util.JSONOptions(datetime_conversion=DatetimeConversion.DATETIME_MS)
    assert json_util.loads(json.dumps(by_id["far"]["expires"]), json_options=as_dates) == FAR


@pytest.mark.usefixtures("odd_dates")
def test_show_marks_a_document_with_an_odd_date_unreadable(test_uri: str) -> None:
    human = mongosession(test_uri, "show", "far")
    flagged = mongosession(test_uri, "show", "flagged-far")
    as_json = mongosession(test_uri, "show", "born-early", "--json")

    for run in (human, flagged, as_json):
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr
    assert "state:       unreadable\n" in human.stdout
    assert "expires:     unreadable (300000000000000 ms)\n" in human.stdout
    assert '"cart"' in human.stdout  # the data is still shown
    assert "expires" in human.stderr
    assert "deleted_at:  unreadable (300000000000000 ms)\n" in flagged.stdout
    shown = json.loads(as_json.stdout)
    assert shown["state"] == "unreadable"
    assert shown["created"] == {"$date": {"$numberLong": "-70000000000000"}}
    assert shown["modified"] == {"$date": {"$numberLong": "300000000000000"}}
    assert shown["session"]["cart"] == ["book"]


@pytest.mark.usefixtures("odd_dates")
def test_stats_cleanup_and_revoke_work_beside_odd_dates(
    test_uri: str, db: Database[dict[str, Any]]
) -> None:
    stats = mongosession(test_uri, "stats", "--json")
    human = mongosession(test_uri, "stats")
    dry = mongosession(test_uri, "cleanup", "--dry-run", "--json")
    cleaned = mongosession(test_uri, "cleanup", "--json")
    revoked = mongosession(test_uri, "revoke", "far", "--yes")
    by_user = mongosession(test_uri, "revoke", "--user", "alice", "--flag", "--yes", "--json")

    for run in (stats, human, dry, cleaned, revoked, by_user):
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr
    counts = json.loads(stats.stdout)
    # By expiry, on the server: the expiry past year 9999 counts as live.
    assert {k: counts[k] for k in ("documents", "live", "expired", "flagged")} == {
        "documents": 5,
        "live": 3,
        "expired": 1,
        "flagged": 1,
    }
    assert json.loads(dry.stdout) == {"flagged": 1, "expired": 1, "deleted": 0, "dry_run": True}
    assert json.loads(cleaned.stdout)["deleted"] == 2
    assert "deleted 1 session(s)" in revoked.stdout
    assert json.loads(by_user.stdout) == {"revoked": 1, "flagged": True}
    assert sorted(d["_id"] for d in db.sessions.find({}, {"_id": 1})) == ["born-early", "plain"]


def test_cleanup_older_than_more_than_the_calendar_spares_every_flagged_session(
    test_uri: str, db: Database[dict[str, Any]]
) -> None:
    db.sessions.insert_many(
        [
            {
                "_id": "flagged",
                "session": "{}",
                "expires": future(),
                "deleted": True,
                "deletedAt": _clock.now(),
            },
            {"_id": "expired", "session": "{}", "expires": past()},
        ]
    )

    run = mongosession(test_uri, "cleanup", "--older-than", "1e300", "--json")

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"flagged": 0, "expired": 1, "deleted": 1, "dry_run": False}
    assert [d["_id"] for d in db.sessions.find({}, {"_id": 1})] == ["flagged"]
