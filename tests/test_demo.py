"""The demo, started for real: `python -m mongosession demo` on a free port.

Driven over HTTP with a cookie jar, and once in headless Chromium (Debian's
``chromium`` and ``chromium-driver``, installed by ``.ci/run``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._mongod import free_port


class Demo:
    """A running `mongosession demo` process."""

    def __init__(self, data_dir: Path, uri: str | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
        if uri:
            env["MONGODB_URI"] = uri
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mongosession",
                "demo",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/static-probe", timeout=1)
                return
            except httpx.TransportError:
                if self.process.poll() is not None:
                    output = self.process.stdout.read() if self.process.stdout else ""
                    raise RuntimeError(f"demo exited: {output}") from None
                time.sleep(0.1)
        self.stop()
        raise TimeoutError("the demo did not start")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.stdout.read() if self.process.stdout else ""


@pytest.fixture
def demo(tmp_path: Path, test_uri: str) -> Iterator[Demo]:
    running = Demo(tmp_path / "demo", test_uri)
    try:
        yield running
    finally:
        running.stop()


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


def test_my_sessions_lists_and_revokes(demo: Demo) -> None:
    with browser_client(demo) as laptop, browser_client(demo) as phone:
        laptop.post("/login", data={"user": "bob"})
        phone.post("/login", data={"user": "bob"})
        page = laptop.get("/sessions")
        assert 'id="count">2<' in page.text
        phone_sid = re.findall(r'name="sid" value="([^"]+)"', page.text)
        assert len(phone_sid) == 1
        page = laptop.post("/revoke", data={"sid": phone_sid[0]})
        assert 'id="count">1<' in page.text
        assert "Not logged in" in phone.get("/").text
        assert 'id="who">bob<' in laptop.get("/").text


def test_revoke_others_keeps_this_session(demo: Demo) -> None:
    clients = [browser_client(demo) for _ in range(3)]
    try:
        for client in clients:
            client.post("/login", data={"user": "carol"})
        page = clients[0].post("/revoke-others")
        assert 'id="count">1<' in page.text
        assert all("Not logged in" in c.get("/").text for c in clients[1:])
    finally:
        for client in clients:
            client.close()


def test_another_users_session_cannot_be_revoked(demo: Demo) -> None:
    with browser_client(demo) as mallory, browser_client(demo) as victim:
        victim.post("/login", data={"user": "victim"})
        mallory.post("/login", data={"user": "mallory"})
        victim_sid = re.findall(r'name="sid" value="([^"]+)"', victim.get("/sessions").text)
        own = victim.get("/").text
        assert 'id="who">victim<' in own
        sid = re.search(r"<code>([^<]+)…</code>", own)
        assert sid is not None
        assert not victim_sid  # the victim sees only this session (no revoke button)
        mallory.post("/revoke", data={"sid": sid.group(1)})
        assert 'id="who">victim<' in victim.get("/").text


def test_logout_starts_a_fresh_session(demo: Demo) -> None:
    with browser_client(demo) as client:
        client.post("/login", data={"user": "dave"})
        page = client.post("/logout")
        assert "Not logged in" in page.text
        assert visits(page) == 1


def test_the_demo_runs_its_own_mongodb_and_keeps_sessions_across_restarts(tmp_path: Path) -> None:
    if os.environ.get("MONGODB_URI"):
        pytest.skip("checks the demo's own server; MONGODB_URI is set")
    data_dir = tmp_path / "data"
    first = Demo(data_dir, None)
    try:
        with browser_client(first) as client:
            client.post("/login", data={"user": "erin"})
            cookie = client.cookies["connect.sid"]
    finally:
        output = first.stop()
    assert "started a local MongoDB" in output
    assert "stopped the local MongoDB" in output
    second = Demo(data_dir, None)
    try:
        with browser_client(second) as client:
            client.cookies.set("connect.sid", cookie)
            assert 'id="who">erin<' in client.get("/").text
    finally:
        second.stop()


CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.browser
@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_a_real_browser_logs_in_counts_and_logs_out(demo: Demo, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver: Any = webdriver.Chrome(
        options=options, service=Service(CHROMEDRIVER or "/usr/bin/chromedriver")
    )
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
        assert "Not logged in" in driver.find_element(By.ID, "status").text
        assert driver.find_element(By.ID, "visits").text == "1"
        fresh = driver.get_cookie("connect.sid")
        assert fresh is not None
        assert fresh["value"] != cookie["value"]  # a new session, new id
    finally:
        driver.quit()
