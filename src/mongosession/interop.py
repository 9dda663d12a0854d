"""Node interop: connect-mongo's encrypted session formats (``mongosession.codecs.node``).

Kept at this import path for applications that use it; the codecs live in
:mod:`mongosession.codecs.node`.
"""

from __future__ import annotations

from mongosession.codecs.node import KrupteinCodec, WebCryptoCodec

__all__ = ["KrupteinCodec", "WebCryptoCodec"]
