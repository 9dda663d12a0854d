"""Session dicts and ids as express-session (and connect-mongo) store them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mongosession import _clock

SID = "DJW_JaSWR-41-zW3df0G0g7HB8t5bwK4"
OTHER = "0ZtG1bA8U8N4r8gFqOqVY3oQ1q8I2xTb"


def session(**data: Any) -> dict[str, Any]:
    """A session as express-session stores it: data plus the cookie object."""
    cookie = {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}
    return {"cookie": cookie, **data}


def cookie_session(expires: datetime, **data: Any) -> dict[str, Any]:
    """:func:`session` with a cookie that expires at ``expires`` (one hour long)."""
    s = session(**data)
    s["cookie"].update(originalMaxAge=3600000, expires=_clock.to_js_iso(expires))
    return s
