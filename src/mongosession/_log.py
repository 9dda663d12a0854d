"""The library's logger: ``logging.getLogger("mongosession")``."""

from __future__ import annotations

import logging

log = logging.getLogger("mongosession")
