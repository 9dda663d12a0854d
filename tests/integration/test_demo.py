"""The demo, started for real: `python -m mongosession demo` on a free port.

Driven over HTTP with a cookie jar, and once in headless Chromium (Debian's
``chromium`` and ``chromium-driver``, installed by ``.ci/run``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import python, serving

#: A MongoDB that is not there: MONGODB_URI as a user's shell may have it set.
NOWHERE = "mongodb://127.0.0.1:1/real_app"


class Demo:
    """A running `mongosession demo`: its URL and its output file."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log


@contextmanager
def running_demo(data_dir: Path, uri: str | None, *extra: str) -> Iterator[Demo]:
    """`python -m mongosession demo` on a free port, on ``--uri`` (its own server if None).

    ``MONGODB_URI`` is set to a server that does not exist, which the demo must ignore.
    """
    log = data_dir.parent / f"{data_dir.name}.log"
    command = python("-m", "mongosession", "demo", "--port", "{port}", "--data-dir", str(data_dir))
    if uri is not None:
        command += ["--uri", uri]
    command += list(extra)
    with serving(command, mongodb_uri=NOWHERE, log=log, timeout=60) as url:
        yield Demo(url, log)


@pytest.fixture
def demo(tmp_path: Path, test_uri: str) -> Iterator[Demo]:
    with running_demo(tmp_path / "demo", test_uri) as running:
        yield running


def visits(page: httpx.Response) -> int:
    found = re.search(r'id="visits">(\d+)<', page.text)
    assert found, page.text
    return int(found.group(1))


def browser_client(demo: Demo) -> httpx.Client:
    return httpx.Client(base_url=demo.url, follow_redirects=True, timeout=10)


def test_the_counter_rises_per_browser(demo: Demo) -> None:
    with browser_client(demo) as one, browser_client(demo) as two:
        assert [visits(one.get("/")) for _ in range(3)] == [1, 2, 3]
        assert visits(two.get("/")) == 1


def test_login_shows_the_user_and_keeps_the_count(demo: Demo) -> None:
    with browser_client(demo) as client:
        client.get("/")
        before = client.cookies["connect.sid"]
        page = client.post("/login", data={"user": "alice"})
        assert 'id="who">alice<' in page.text
        assert visits(page) == 2  # the data survived regenerate
        assert client.cookies["connect.sid"] != before


HANDLES = re.compile(r'name="handle" value="([^"]+)"')
THIS_DEVICE = re.compile(r'class="device current" data-handle="([^"]+)"')


def test_my_sessions_lists_and_revokes(demo: Demo) -> None:
    with browser_client(demo) as laptop, browser_client(demo) as phone:
        laptop.post("/login", data={"user": "bob"})
        phone.post("/login", data={"user": "bob"})
        page = laptop.get("/")
        assert 'id="count">2<' in page.text
        phone_handle = HANDLES.findall(page.text)  # a Revoke form for the other one only
        assert len(phone_handle) == 1
        page = laptop.post("/revoke", data={"handle": phone_handle[0]})
        assert 'id="count">1<' in page.text
        assert "Signed out " in page.text  # the flash naming what was revoked
        assert "Not signed in" in phone.get("/").text
        assert 'id="who">bob<' in laptop.get("/").text


def test_revoke_others_keeps_this_session(demo: Demo) -> None:
    clients = [browser_client(demo) for _ in range(3)]
    try:
        for client in clients:
            client.post("/login", data={"user": "carol"})
        assert 'id="revoke-others"' in clients[0].get("/").text
        page = clients[0].post("/revoke-others")
        assert 'id="count">1<' in page.text
        assert "(2 sessions)" in page.text
        # Nothing left to sign out: no button saying otherwise.
        assert 'id="revoke-others"' not in page.text
        assert all("Not signed in" in c.get("/").text for c in clients[1:])
    finally:
        for client in clients:
            client.close()


def test_another_users_session_cannot_be_revoked(demo: Demo) -> None:
    with browser_client(demo) as mallory, browser_client(demo) as victim:
        victim.post("/login", data={"user": "victim"})
        mallory.post("/login", data={"user": "mallory"})
        own = victim.get("/").text
        assert not HANDLES.findall(own)  # the victim sees only this session: no Revoke
        handle = THIS_DEVICE.search(own)
        assert handle is not None
        page = mallory.post("/revoke", data={"handle": handle.group(1)})
        assert "That session had already ended." in page.text
        assert 'id="who">victim<' in victim.get("/").text


def test_revoking_this_device_by_its_handle_signs_it_out(demo: Demo) -> None:
    with browser_client(demo) as client:
        client.post("/login", data={"user": "gina"})
        handle = THIS_DEVICE.search(client.get("/").text)
        assert handle is not None
        before = client.cookies["connect.sid"]
        page = client.post("/revoke", data={"handle": handle.group(1)})
        assert "Not signed in" in page.text
        assert client.cookies["connect.sid"] != before  # a sign-out: a new, anonymous session


def test_logout_starts_a_fresh_session(demo: Demo) -> None:
    with browser_client(demo) as client:
        client.post("/login", data={"user": "dave"})
        page = client.post("/logout")
        assert "Not signed in" in page.text
        assert visits(page) == 1


@pytest.mark.slow
def test_the_demo_runs_its_own_mongodb_and_keeps_sessions_across_restarts(tmp_path: Path) -> None:
    if os.environ.get("MONGODB_URI"):
        pytest.skip("checks the demo's own server; MONGODB_URI is set")
    data_dir = tmp_path / "data"
    with running_demo(data_dir, None) as first, browser_client(first) as client:
        client.post("/login", data={"user": "erin"})
        cookie = client.cookies["connect.sid"]
    output = first.log.read_text()
    assert "started a local MongoDB" in output
    assert "stopped the local MongoDB" in output
    with running_demo(data_dir, None) as second, browser_client(second) as client:
        client.cookies.set("connect.sid", cookie)
        assert 'id="who">erin<' in client.get("/").text


CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

#: Skips a browser test where Debian's chromium and chromium-driver are missing (never in CI).
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)


def start_chromium(profile: Path, *, user_agent: str | None = None, size: str = "1280,900") -> Any:
    """A headless Chromium of its own (profile folder, cookies), driven by chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--window-size={size}",
        f"--user-data-dir={profile}",
    ]
    if user_agent:
        flags.append(f"--user-agent={user_agent}")
    for flag in flags:
        options.add_argument(flag)
    return webdriver.Chrome(
        options=options, service=Service(CHROMEDRIVER or "/usr/bin/chromedriver")
    )


@pytest.mark.browser
@needs_chromium
def test_a_real_browser_logs_in_counts_and_logs_out(demo: Demo, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver = start_chromium(tmp_path / "profile")
    try:
        driver.get(demo.url + "/")
        assert driver.find_element(By.ID, "visits").text == "1"
        driver.find_element(By.ID, "user").send_keys("frank")
        driver.find_element(By.ID, "login").click()
        who = WebDriverWait(driver, 10).until(
            expected_conditions.presence_of_element_located((By.ID, "who"))
        )
        assert who.text == "frank", driver.page_source
        counts = []
        for _ in range(3):
            driver.refresh()
            counts.append(int(driver.find_element(By.ID, "visits").text))
        assert counts == [counts[0], counts[0] + 1, counts[0] + 2]
        cookie = driver.get_cookie("connect.sid")
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Lax"
        driver.find_element(By.ID, "logout").click()
        WebDriverWait(driver, 10).until(
            expected_conditions.presence_of_element_located((By.ID, "user"))
        )
        assert "Not signed in" in driver.find_element(By.ID, "status").text
        assert driver.find_element(By.ID, "visits").text == "1"
        fresh = driver.get_cookie("connect.sid")
        assert fresh is not None
        assert fresh["value"] != cookie["value"]  # a new session, new id
    finally:
        driver.quit()


# -- a demo that cannot surprise (issue 14) ------------------------------------------------------


def run_demo(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """``mongosession demo`` run to its end (it exits at once when it cannot start)."""
    import subprocess

    full_env = {**os.environ, "MONGODB_URI": NOWHERE, **(env or {})}
    return subprocess.run(
        python("-m", "mongosession", "demo", *args),
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def test_the_demo_never_reads_mongodb_uri_and_prints_its_own(tmp_path: Path, test_uri: str) -> None:
    # MONGODB_URI points at a "real app" that is not there; the demo uses --uri only,
    # and says which MongoDB it uses, with a command line ready to look at it.
    with running_demo(tmp_path / "demo", test_uri) as demo, browser_client(demo) as client:
        client.post("/login", data={"user": "alice"})
        output = demo.log.read_text()
    assert f"MongoDB: {test_uri}" in output
    [command] = [line for line in output.splitlines() if line.startswith("command line: ")]
    import shlex
    import subprocess

    argv = shlex.split(command.removeprefix("command line: "))
    assert argv[:3] == ["mongosession", "--uri", test_uri]
    listed = subprocess.run(
        python("-m", "mongosession", *argv[1:]),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert "alice" in listed.stdout


def test_the_demo_refuses_a_database_with_sessions_it_did_not_create(
    tmp_path: Path, test_uri: str, db: Any
) -> None:
    db.sessions.insert_one({"_id": "a-real-users-session", "session": "{}"})
    refused = run_demo("--port", "1", "--data-dir", str(tmp_path / "demo"), "--uri", test_uri)
    assert refused.returncode == 2
    assert refused.stdout == ""
    [line] = refused.stderr.splitlines()
    assert "holds sessions the demo did not create" in line
    assert "--force" in line
    assert db.sessions.count_documents({}) == 1  # untouched
    # With --force it starts (and marks the database as the demo's).
    with running_demo(tmp_path / "forced", test_uri, "--force") as demo:
        assert "open http://" in demo.log.read_text()
    assert db.mongosession_demo.count_documents({}) == 1


def test_a_busy_port_is_one_line_before_anything_is_served(tmp_path: Path, test_uri: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_demo("--port", str(port), "--data-dir", str(tmp_path / "d"), "--uri", test_uri)
    assert result.returncode == 2
    assert result.stdout == ""  # nothing said to be served
    assert result.stderr.splitlines() == [
        f"mongosession demo: port {port} on 127.0.0.1 is in use: pass --port"
    ]


def test_a_data_folder_in_use_is_one_line(tmp_path: Path, test_uri: str) -> None:
    data_dir = tmp_path / "shared"
    with running_demo(data_dir, test_uri):
        second = run_demo("--port", "0", "--data-dir", str(data_dir), "--uri", test_uri)
    assert second.returncode == 2
    assert second.stdout == ""
    [line] = second.stderr.splitlines()
    assert line.startswith(f"mongosession demo: another demo is using {data_dir}")


@pytest.mark.slow
def test_the_demo_keeps_its_data_in_the_cache_folder_and_its_server_has_no_test_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.environ.get("MONGODB_URI"):
        pytest.skip("checks the demo's own server; MONGODB_URI is set")
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    log = tmp_path / "demo.log"
    command = python("-m", "mongosession", "demo", "--port", "{port}")
    with serving(command, mongodb_uri=NOWHERE, log=log, timeout=60):
        output = log.read_text().splitlines()
    data_dir = tmp_path / "cache" / "mongosession" / "demo"
    assert f"started a local MongoDB 6.0.5 (data in {data_dir / 'db'})" in output
    assert (data_dir / "db").is_dir()
    [uri] = [line.removeprefix("MongoDB: ") for line in output if line.startswith("MongoDB: ")]
    # Started again on the same data, it is the demo's server: no failCommand there.
    with running_demo(data_dir, None) as again:
        [uri] = [
            line.removeprefix("MongoDB: ")
            for line in again.log.read_text().splitlines()
            if line.startswith("MongoDB: ")
        ]
        client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
        try:
            with pytest.raises(OperationFailure):
                client.admin.command("configureFailPoint", "failCommand", mode="off")
        finally:
            client.close()


def test_demo_help_is_plain_text() -> None:
    result = run_demo("--help")
    assert result.returncode == 0
    assert "``" not in result.stdout
    assert "--uri" in result.stdout
    assert "MONGODB_URI" in result.stdout
