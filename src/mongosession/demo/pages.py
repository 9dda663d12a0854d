"""The demo's HTML: one layout with inline CSS and script (no CDN), every value escaped.

Pages are strings built here; :mod:`mongosession.demo.app` serves them. Nothing in a
page names a session by its id: a device is named by its opaque handle
(:attr:`~mongosession.store.devices.DeviceSession.handle`), which ends a session only
when its own user asks. The inline style and script are allowed by their hashes in
the ``Content-Security-Policy`` (:data:`SECURITY_HEADERS`), so no other script runs.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from mongosession.store.devices import DeviceSession

#: What the page says about live updates: on, off (a standalone server), or unknown
#: yet (the database did not answer at start-up: the page tries).
LiveState = Literal["on", "off", "unknown"]

CSS = """
:root { --bg: #f3f5f4; --card: #fff; --text: #17201c; --muted: #5b6661; --line: #e2e7e4;
  --accent: #00684a; --accent-text: #fff; --soft: #e6f4ee; --danger: #b42318;
  --danger-soft: #fdecea; --warn-soft: #fff6e0; --radius: 14px;
  color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #101513; --card: #18201c; --text: #e7ece9; --muted: #9aa6a0; --line: #2a3430;
    --accent: #3fbf8a; --accent-text: #06110c; --soft: #1d3329; --danger: #ff8a7a;
    --danger-soft: #3a1f1c; --warn-soft: #3a3120; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--text); line-height: 1.5;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
.bar { background: var(--card); border-bottom: 1px solid var(--line); }
.bar .wrap { display: flex; align-items: center; gap: .75rem; padding-top: .8rem;
  padding-bottom: .8rem; }
.brand { font-weight: 700; letter-spacing: -.01em; color: var(--text); text-decoration: none; }
.tag { font-size: .75rem; text-transform: uppercase; letter-spacing: .06em; color: var(--accent);
  background: var(--soft); border-radius: 99px; padding: .1rem .55rem; font-weight: 600; }
.wrap { max-width: 46rem; margin: 0 auto; padding-left: 1.25rem; padding-right: 1.25rem; }
main.wrap { padding-top: 1.5rem; padding-bottom: 3rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius);
  padding: 1.4rem 1.5rem; margin-bottom: 1.25rem; box-shadow: 0 1px 2px rgba(0,0,0,.04); }
h1 { font-size: 1.5rem; line-height: 1.25; margin: 0 0 .35rem; letter-spacing: -.01em; }
h2 { font-size: 1.15rem; margin: 0; }
p { margin: .4rem 0; }
.muted { color: var(--muted); }
.small { font-size: .875rem; }
.stats { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin: .9rem 0 1.1rem; }
.stat b { display: block; font-size: 1.35rem; line-height: 1.2; }
.stat span { color: var(--muted); font-size: .85rem; }
form.inline { display: inline; margin: 0; }
.signin { display: flex; flex-wrap: wrap; gap: .6rem; margin-top: 1rem; }
.signin input { flex: 1 1 12rem; min-width: 0; font: inherit; padding: .6rem .8rem;
  border: 1px solid var(--line); border-radius: 10px; background: var(--bg); color: var(--text); }
.signin input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
button, .button { font: inherit; font-weight: 600; cursor: pointer; border-radius: 10px;
  padding: .55rem 1rem; border: 1px solid transparent; text-decoration: none;
  display: inline-block; line-height: 1.4; }
.primary { background: var(--accent); color: var(--accent-text); }
.secondary { background: transparent; color: var(--text); border-color: var(--line); }
.danger { background: transparent; color: var(--danger); border-color: var(--line); }
.danger:hover { background: var(--danger-soft); }
button:focus-visible, .button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.head { display: flex; align-items: center; justify-content: space-between; gap: .75rem;
  flex-wrap: wrap; margin-bottom: .35rem; }
.live { font-size: .8rem; font-weight: 600; border-radius: 99px; padding: .15rem .6rem;
  background: var(--bg); color: var(--muted); white-space: nowrap; }
.live::before { content: ""; display: inline-block; width: .5rem; height: .5rem;
  border-radius: 50%; background: currentColor; margin-right: .4rem; vertical-align: .05rem; }
.live[data-state="on"] { color: var(--accent); background: var(--soft); }
.live[data-state="off"] { color: var(--muted); }
.live[data-state="wait"] { color: #8a5a00; background: var(--warn-soft); }
.devices { list-style: none; margin: .75rem 0 0; padding: 0; }
.device { display: grid; grid-template-columns: 2.5rem minmax(0, 1fr) auto; align-items: center;
  gap: .4rem .9rem; padding: .9rem 0; border-top: 1px solid var(--line); }
.device .icon { width: 2.5rem; height: 2.5rem; border-radius: 10px;
  display: grid; place-items: center; background: var(--bg); color: var(--muted); }
.device.current .icon { background: var(--soft); color: var(--accent); }
.device .name { font-weight: 600; overflow-wrap: anywhere; }
.device .meta { color: var(--muted); font-size: .875rem; overflow-wrap: anywhere; }
.device .meta span { white-space: nowrap; }
.device .meta span + span::before { content: "\\00b7"; margin: 0 .4rem; }
.badge { display: inline-block; white-space: nowrap; font-size: .72rem; font-weight: 700; text-transform: uppercase;
  letter-spacing: .05em; color: var(--accent); background: var(--soft); border-radius: 99px;
  padding: .05rem .5rem; margin-left: .35rem; vertical-align: .1rem; }
.others { border-top: 1px solid var(--line); padding-top: 1rem; margin-top: 0; }
.flash { background: var(--soft); border-radius: 10px; padding: .6rem .9rem; margin: 0 0 1rem; }
.banner { background: var(--danger-soft); color: var(--text); border-radius: 10px;
  padding: .8rem 1rem; margin: 0 0 1rem; }
.ended .devices, .ended .others { opacity: .45; pointer-events: none; }
.error { text-align: center; padding: 2.5rem 1.5rem; }
.error .code { font-size: 3rem; font-weight: 800; color: var(--accent); line-height: 1; }
.error p { max-width: 30rem; margin-left: auto; margin-right: auto; }
footer { color: var(--muted); font-size: .85rem; }
footer code { font-size: .8rem; }
code { background: var(--bg); border-radius: 5px; padding: .05rem .3rem; }
[hidden] { display: none !important; }
@media (max-width: 30rem) {
  .wrap { padding-left: .9rem; padding-right: .9rem; }
  .card { padding: 1.1rem 1rem; }
  .device { grid-template-columns: 2.5rem minmax(0, 1fr); align-items: start; }
  .device form { grid-column: 2; }
  .stats { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .others .muted { display: block; margin-top: .4rem; }
  h1 { font-size: 1.3rem; }
}
"""

#: The live-update script: follows /events (server-sent events) and re-reads the list
#: from /devices when one of the user's sessions ends; shows when this one ended.
SCRIPT = """
(() => {
  const panel = document.getElementById("devices-panel");
  const live = document.getElementById("live");
  if (!panel || !live || live.dataset.state === "off") return;
  let source = null, timer = 0;
  const show = (state, text) => { live.dataset.state = state; live.textContent = text; };
  const signedOut = () => {
    if (source) source.close();
    clearTimeout(timer);
    show("off", "Signed out");
    document.getElementById("signed-out").hidden = false;
    document.getElementById("devices-card").classList.add("ended");
  };
  const refresh = async () => {
    try {
      const answer = await fetch("/devices", {cache: "no-store", credentials: "same-origin"});
      if (answer.status === 401) { signedOut(); return "out"; }
      if (answer.ok) panel.innerHTML = await answer.text();
    } catch (error) { /* the server is away: the stream says when it is back */ }
    return "in";
  };
  const connect = () => {
    source = new EventSource("/events");
    source.addEventListener("ready", () => { show("on", "Live"); refresh(); });
    source.addEventListener("live", () => { show("on", "Live"); refresh(); });
    source.addEventListener("added", refresh);
    source.addEventListener("paused", () => show("wait", "Reconnecting\\u2026"));
    source.addEventListener("ended", (event) => {
      const handle = JSON.parse(event.data).handle;
      for (const row of panel.querySelectorAll(".device")) {
        if (row.dataset.handle === handle) row.remove();
      }
      refresh();
    });
    source.addEventListener("signed-out", signedOut);
    source.addEventListener("off", () => { source.close(); show("off", "Live updates are off"); });
    source.onerror = async () => {
      show("wait", "Reconnecting\\u2026");
      // Closed for good (a 503, a 204): try again later, unless this device is signed out.
      if (source.readyState === EventSource.CLOSED && await refresh() !== "out") {
        clearTimeout(timer);
        timer = setTimeout(connect, 5000);
      }
    };
  };
  // While live, Revoke posts in the background: the row goes when the session's end
  // comes back through the stream (re-read after 10 s should it not).
  panel.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList.contains("revoke-form") || live.dataset.state !== "on") return;
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    button.textContent = "Signing out\\u2026";
    try {
      const answer = await fetch(form.action, {
        method: "POST", body: new URLSearchParams(new FormData(form)),
        headers: {"x-demo-fetch": "1"}, credentials: "same-origin",
      });
      if (answer.status !== 204) { form.submit(); return; }
    } catch (error) { form.submit(); return; }
    setTimeout(refresh, 10000);
  });
  connect();
})();
"""


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


#: Headers of every page: nothing but the inline style and script above runs, no
#: frame holds the page, forms post only here, and no cache keeps a personal page.
SECURITY_HEADERS = {
    "content-security-policy": (
        f"default-src 'none'; script-src {_hash(SCRIPT)}; style-src {_hash(CSS)}; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}

LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{refresh}<title>{title}</title>
<style>{css}</style></head>
<body>
<header class="bar"><div class="wrap"><a class="brand" href="/">mongosession</a>
<span class="tag">demo</span></div></header>
<main class="wrap">
{body}
<footer>
<p>Sessions live in MongoDB (the <code>sessions</code> collection); the cookie holds a signed
random id and nothing else. Sign in with the same name in another browser to see a second
device here.</p>
</footer>
</main>
{script}</body></html>"""

_ICONS = {
    "mobile": '<rect x="7" y="2" width="10" height="20" rx="2"/><path d="M11 18h2"/>',
    "tablet": '<rect x="4" y="2" width="16" height="20" rx="2"/><path d="M11 18h2"/>',
    "desktop": '<rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8M12 17v4"/>',
    "other": '<circle cx="12" cy="12" r="9"/><path d="M3 12h18M12 3a14 14 0 0 1 0 18'
    'M12 3a14 14 0 0 0 0 18"/>',
}


def escape(value: object) -> str:
    """``value`` as text safe in HTML content and quoted attributes."""
    return html.escape(str(value), quote=True)


def layout(title: str, body: str, *, script: bool = False, refresh_to: str | None = None) -> str:
    """A whole page: ``body`` (HTML) in the layout, the live script when ``script``."""
    refresh = (
        f'<meta http-equiv="refresh" content="10; url={escape(refresh_to)}">\n'
        if refresh_to
        else ""
    )
    return LAYOUT.format(
        title=escape(title),
        css=CSS,
        body=body,
        refresh=refresh,
        script=f"<script>{SCRIPT}</script>\n" if script else "",
    )


# -- time in words ------------------------------------------------------------------------------


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


#: The units of a duration in words: (below how many seconds, the unit in seconds, one, name).
_UNITS = (
    (45 * 60, 60, "a minute", "minute"),
    (22 * 3600, 3600, "an hour", "hour"),
    (26 * 86400, 86400, "a day", "day"),
    (350 * 86400, 30.44 * 86400, "a month", "month"),
    (float("inf"), 365.25 * 86400, "a year", "year"),
)


def _span(seconds: float) -> str:
    # A duration the way people say it: the largest unit that fits, rounded.
    _, size, one, unit = next(row for row in _UNITS if seconds < row[0])
    count = seconds / size
    return one if count < 1.5 else _count(round(count), unit)


def ago(moment: datetime | None, now: datetime) -> str:
    """``moment`` in the past, in words: "just now", "3 minutes ago", "yesterday"."""
    if moment is None:
        return "unknown"
    seconds = (now - moment).total_seconds()
    if seconds < 45:
        return "just now"
    span = _span(seconds)
    return "yesterday" if span == "a day" else f"{span} ago"


def ahead(moment: datetime | None, now: datetime) -> str:
    """``moment`` in the future, in words: "in 14 days", "in under a minute"."""
    if moment is None:
        return "never"
    seconds = (moment - now).total_seconds()
    if seconds <= 0:
        return "now"
    if seconds < 45:
        return "in under a minute"
    return f"in {_span(seconds)}"


def _utc(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


# -- devices ------------------------------------------------------------------------------------


def describe(device: DeviceSession) -> str:
    """ "Firefox 125 on Windows 10", as well as the recorded user agent tells (plain text)."""
    if device.browser and device.os:
        return f"{device.browser} on {device.os}"
    if device.browser or device.os:
        return str(device.browser or device.os)
    return "Unknown browser" if device.user_agent else "A session without device details"


def _icon(device: DeviceSession) -> str:
    kind = device.device_type if device.device_type in _ICONS else "other"
    return (
        '<svg width="22" height="22" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
        'stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">'
        f"{_ICONS[kind]}</svg>"
    )


def device_row(device: DeviceSession, now: datetime) -> str:
    """One ``<li>`` of the list: what, where, when; Revoke for every session but this one."""
    name = describe(device)
    active = "Active now" if device.current else f"Last active {ago(device.last_active, now)}"
    meta = [
        f"<span>{escape(device.ip)}</span>" if device.ip else "<span>IP not recorded</span>",
        f'<span title="{escape(_utc(device.signed_in))}">Signed in '
        f"{escape(ago(device.signed_in, now))}</span>",
        f'<span class="active" title="{escape(_utc(device.last_active))}">{escape(active)}</span>',
    ]
    badge = '<span class="badge this-device">This device</span>' if device.current else ""
    action = (
        ""
        if device.current
        else '<form method="post" action="/revoke" class="inline revoke-form">'
        f'<input type="hidden" name="handle" value="{escape(device.handle)}">'
        f'<button class="danger revoke" aria-label="Revoke {escape(name)}">Revoke</button></form>'
    )
    classes = "device current" if device.current else "device"
    return (
        f'<li class="{classes}" data-handle="{escape(device.handle)}">'
        f'<div class="icon">{_icon(device)}</div>'
        f'<div class="info"><div class="name">{escape(name)}{badge}</div>'
        f'<div class="meta">{"".join(meta)}</div>'
        f'<div class="meta" title="{escape(_utc(device.expires))}">Ends '
        f"{escape(ahead(device.expires, now))} unless used again</div></div>"
        f"{action}</li>"
    )


def devices_panel(devices: Sequence[DeviceSession], now: datetime) -> str:
    """The list and its "sign out everywhere else" (only with other sessions to end)."""
    others = sum(not device.current for device in devices)
    # This device first, then the others as the store orders them: latest activity first.
    ordered = sorted(devices, key=lambda device: not device.current)
    rows = "".join(device_row(device, now) for device in ordered)
    noun = "session" if len(devices) == 1 else "sessions"
    panel = (
        f'<p class="muted small"><span id="count">{len(devices)}</span> {noun} signed in '
        "with this name.</p>"
        f'<ul class="devices" id="devices">{rows}</ul>'
    )
    if others:
        panel += (
            '<div class="others"><form method="post" action="/revoke-others" class="inline">'
            '<button class="secondary" id="revoke-others">Sign out everywhere else</button>'
            f'</form> <span class="muted small">ends {escape(_count(others, "other session"))}'
            "</span></div>"
        )
    return panel


def _live_pill(state: LiveState) -> str:
    if state == "off":
        return (
            '<span class="live" id="live" data-state="off" title="The database is a standalone '
            'mongod: change streams need a replica set">Live updates are off</span>'
        )
    return '<span class="live" id="live" data-state="wait">Connecting\u2026</span>'


# -- pages --------------------------------------------------------------------------------------


def _stats(visits: int, ends: str) -> str:
    return (
        '<div class="stats">'
        f'<div class="stat"><b id="visits">{visits}</b><span>visits in this session</span></div>'
        f'<div class="stat"><b id="ends">{escape(ends)}</b><span>this session ends, '
        "unless used again</span></div></div>"
    )


def _flash(message: str | None) -> str:
    if not message:
        return ""
    return f'<p class="flash" id="flash" role="status">{escape(message)}</p>'


def signed_out_page(visits: int, ends: str, flash: str | None) -> str:
    """The account page of a visitor not signed in: the counter and the sign-in form."""
    body = (
        '<section class="card" id="account">'
        f"{_flash(flash)}"
        "<h1>Sign in</h1>"
        '<p id="status" class="muted">Not signed in. Any name will do: this demo shows '
        "sessions, not passwords.</p>"
        f"{_stats(visits, ends)}"
        '<form method="post" action="/login" class="signin">'
        '<input name="user" id="user" required maxlength="64" placeholder="Your name" '
        'aria-label="Your name" '
        'autocomplete="username" autocapitalize="none">'
        '<button class="primary" id="login">Sign in</button></form>'
        "</section>"
    )
    return layout("Sign in \u00b7 mongosession demo", body)


def account_page(
    user: str,
    visits: int,
    ends: str,
    devices: Sequence[DeviceSession],
    now: datetime,
    *,
    live: LiveState,
    flash: str | None,
) -> str:
    """The account page of a signed-in user: counter, sign out, where they are signed in."""
    body = (
        '<section class="card" id="account">'
        f"{_flash(flash)}"
        f'<div class="head"><h1 id="status">Signed in as <span id="who">{escape(user)}</span>'
        '</h1><form method="post" action="/logout" class="inline">'
        '<button class="secondary" id="logout">Sign out</button></form></div>'
        f"{_stats(visits, ends)}"
        "</section>"
        '<section class="card" id="devices-card">'
        '<div class="banner" id="signed-out" role="alert" hidden><strong>This device was '
        "signed out.</strong> Its session ended elsewhere (revoked, expired or signed out). "
        '<a href="/">Sign in again</a></div>'
        f'<div class="head"><h2>Where you\u2019re signed in</h2>{_live_pill(live)}</div>'
        f'<div id="devices-panel">{devices_panel(devices, now)}</div>'
        "</section>"
    )
    return layout(f"{user} \u00b7 mongosession demo", body, script=live != "off")


ERRORS = {
    403: (
        "Not allowed",
        "This form was sent from another site, so it was refused: the demo accepts changes "
        "only from its own pages.",
    ),
    404: ("Page not found", "There is nothing at this address."),
    405: ("Not allowed", "This address does not take that kind of request."),
    409: (
        "Try again",
        "Your session changed while this request ran (another tab, or it was signed out).",
    ),
    503: (
        "The session database is not answering",
        "Without MongoDB the demo cannot tell who you are, so it fails closed: no page is "
        "served with a guessed or empty session. This page tries again every 10 seconds.",
    ),
}


def error_page(status: int, detail: str | None = None) -> str:
    """A styled page for an error status (``detail``: the plain text a layer below gave)."""
    title, text = ERRORS.get(status, ("Something went wrong", "The request could not be served."))
    detail_html = f'<p class="muted small">{escape(detail)}</p>' if detail else ""
    body = (
        f'<section class="card error" id="error" data-status="{status}">'
        f'<div class="code">{status}</div><h1>{escape(title)}</h1><p>{escape(text)}</p>'
        f'{detail_html}<p><a class="button primary" href="/">Go to the start page</a></p>'
        "</section>"
    )
    return layout(
        f"{title} \u00b7 mongosession demo", body, refresh_to="/" if status == 503 else None
    )
