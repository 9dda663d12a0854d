"""The demo in real browsers: two headless Chromiums signed in as one user, and screenshots.

Two Chromium processes, each with its own profile (its own cookies) and a User-Agent
of its own (a Firefox on Windows, an iPhone's Safari), drive `python -m mongosession
demo` on the replica set, so that the page's live updates (server-sent events fed by
a change stream) are on.

The screenshots in the docs (docs/_static/devices-desktop.png and
devices-phone.png) are the ones :func:`test_screenshots_at_desktop_and_phone_widths`
takes; to write them there::

    MONGOSESSION_UPDATE_SCREENSHOTS=1 python -m pytest tests/integration/test_demo_browser.py -k screenshots
"""

from __future__ import annotations

import base64
import os
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.integration.test_demo import Demo, needs_chromium, running_demo, start_chromium
from tests.integration.test_demo_devices import FIREFOX_WINDOWS, SAFARI_IPHONE

pytestmark = [pytest.mark.browser, needs_chromium]

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "docs" / "_static"
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)

#: How long a live update may take to show (the change stream waits at most 1 s a turn).
LIVE_WITHIN = 5.0


@pytest.fixture
def live_demo(tmp_path: Path, rs_uri: str) -> Iterator[Demo]:
    """The demo on the replica set: live updates on."""
    with running_demo(tmp_path / "demo", rs_uri) as running:
        yield running


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``browsers(name, user_agent=..., size=...)`` starts a Chromium; all quit after the test."""
    started: list[Any] = []

    def start(name: str, **options: Any) -> Any:
        driver = start_chromium(tmp_path / name, **options)
        started.append(driver)
        return driver

    try:
        yield start
    finally:
        for driver in started:
            driver.quit()


def until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    """``check()``'s first true value within ``seconds`` (polled), else fail saying ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = check()
        except Exception:  # an element replaced while read (the list re-rendered)
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds}s: {what}")
        time.sleep(0.1)


def by_id(driver: Any, name: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name)


def sign_in(driver: Any, url: str, user: str) -> None:
    driver.get(url + "/")
    by_id(driver, "user").send_keys(user)
    by_id(driver, "login").click()
    until(lambda: by_id(driver, "who").text == user, 10, f"{user} signed in")


def live(driver: Any) -> None:
    """Wait until the page says its event stream is live."""
    until(lambda: by_id(driver, "live").get_attribute("data-state") == "on", 10, "live")


def devices(driver: Any) -> list[tuple[str, bool]]:
    """(name, this device?) of each row of the page's list, as the page shows it now."""
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#devices .device")
    return [
        (
            row.find_element(By.CSS_SELECTOR, ".name").get_attribute("textContent"),
            "current" in (row.get_attribute("class") or ""),
        )
        for row in rows
    ]


def session_id(driver: Any) -> str:
    value = unquote(driver.get_cookie("connect.sid")["value"])
    assert value.startswith("s:"), value
    return value[2:].rpartition(".")[0]


def mark_document(driver: Any) -> None:
    """Set a mark that a reload or a navigation would lose."""
    driver.execute_script("window.sameDocument = true;")


def same_document(driver: Any) -> bool:
    return bool(driver.execute_script("return window.sameDocument === true;"))


def test_two_browsers_one_user_revoke_and_live_updates(
    live_demo: Demo, browsers: Callable[..., Any]
) -> None:
    from selenium.webdriver.common.by import By

    url = live_demo.url
    desktop = browsers("desktop", user_agent=FIREFOX_WINDOWS)
    phone = browsers("phone", user_agent=SAFARI_IPHONE, size="390,844")
    sign_in(phone, url, "alice")
    sign_in(desktop, url, "alice")
    phone.refresh()  # (a new sign-in elsewhere shows at the next keep-alive, up to 10 s)
    live(desktop)
    live(phone)
    # Each sees both devices by browser and OS, and "this device" on its own.
    assert devices(desktop) == [
        ("Firefox 125 on Windows 10This device", True),
        ("Mobile Safari 17 on iOS 17.4", False),
    ]
    assert devices(phone) == [
        ("Mobile Safari 17 on iOS 17.4This device", True),
        ("Firefox 125 on Windows 10", False),
    ]
    assert "127.0.0.1" in by_id(desktop, "devices").text
    # Neither session id is anywhere in either page.
    ids = [session_id(desktop), session_id(phone)]
    assert ids[0] != ids[1]
    for driver in (desktop, phone):
        html = driver.page_source
        for sid in ids:
            assert sid not in html

    # The desktop revokes the phone: no reload; the row goes when the end comes back live.
    mark_document(desktop)
    mark_document(phone)
    desktop.find_element(By.CSS_SELECTOR, "#devices .device:not(.current) button.revoke").click()
    until(lambda: len(devices(desktop)) == 1, LIVE_WITHIN, "the revoked phone's row gone")
    assert devices(desktop) == [("Firefox 125 on Windows 10This device", True)]
    assert by_id(desktop, "count").text == "1"
    assert desktop.find_elements(By.ID, "revoke-others") == []
    assert same_document(desktop)
    # The phone's open page says so at once, and its next request is signed out.
    until(lambda: by_id(phone, "signed-out").is_displayed(), LIVE_WITHIN, "phone told")
    assert same_document(phone)
    phone.refresh()
    assert "Not signed in" in by_id(phone, "status").text

    # The phone signs in again, then signs out itself: the desktop's list follows live.
    sign_in(phone, url, "alice")
    desktop.refresh()
    live(desktop)
    assert [name for name, _ in devices(desktop)] == [
        "Firefox 125 on Windows 10This device",
        "Mobile Safari 17 on iOS 17.4",
    ]
    mark_document(desktop)
    by_id(phone, "logout").click()
    until(lambda: len(devices(desktop)) == 1, LIVE_WITHIN, "the signed-out phone's row gone")
    assert same_document(desktop)
    assert by_id(desktop, "live").text == "Live"
    assert by_id(desktop, "signed-out").is_displayed() is False


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def full_page_png(driver: Any, width: int, scale: int) -> bytes:
    """The whole page (not only the window) at ``width`` CSS pixels, ``scale`` device pixels each."""
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    data = base64.b64decode(shot["data"])
    assert png_size(data) == (width * scale, height * scale)
    return data


def test_screenshots_at_desktop_and_phone_widths(
    live_demo: Demo, browsers: Callable[..., Any], tmp_path: Path
) -> None:
    url = live_demo.url
    desktop = browsers("desktop", user_agent=FIREFOX_WINDOWS, size="1280,900")
    phone = browsers("phone", user_agent=SAFARI_IPHONE)
    # A phone: 390 CSS pixels wide, the viewport tag obeyed. (One device pixel each: the
    # docs show the picture at its own size, as a phone would.)
    phone.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    sign_in(phone, url, "alice")
    with httpx.Client(base_url=url, headers={"user-agent": CHROME_MAC}) as laptop:
        laptop.post("/login", data={"user": "alice"})
    sign_in(desktop, url, "alice")
    phone.refresh()
    for driver in (desktop, phone):
        live(driver)
        assert len(devices(driver)) == 3
    # Readable on the phone: nothing wider than the screen, text at full size.
    assert phone.execute_script("return document.documentElement.scrollWidth;") <= 390
    assert phone.execute_script("return getComputedStyle(document.body).fontSize;") == "16px"
    assert phone.execute_script("return window.innerWidth;") == 390

    shots = {
        "devices-desktop.png": full_page_png(desktop, 1280, 1),
        "devices-phone.png": full_page_png(phone, 390, 1),
    }
    for name, data in shots.items():
        assert len(data) < 400_000, (name, len(data))
        (tmp_path / name).write_bytes(data)
        if os.environ.get("MONGOSESSION_UPDATE_SCREENSHOTS"):
            STATIC.mkdir(parents=True, exist_ok=True)
            (STATIC / name).write_bytes(data)
