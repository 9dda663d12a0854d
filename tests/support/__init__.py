"""What the tests share; no tests here.

- :mod:`.fixtures`: the fixture factory (servers, clean databases, stores), a pytest
  plugin registered by tests/conftest.py;
- :mod:`.stores`: :class:`~.stores.StoreKit`, one store API for both flavours;
- :mod:`.sessions`: session dicts and ids as express-session stores them;
- :mod:`.decisions`: express-session's per-request decisions, restated (the oracle);
- :mod:`.envelopes`: the encryption envelope formats, re-implemented from their documentation;
- :mod:`.monitoring`: :class:`~.monitoring.CommandLog`, what a client sent;
- :mod:`.faultproxy`: a TCP proxy that breaks the connection to MongoDB on demand;
- :mod:`.asgi`: an ASGI app driven in-process (no HTTP), with a browser's cookie jar;
- :mod:`.servers`: an app or an example under a real server process;
- :mod:`.interop`: the Express app and the Python app side by side.

tests/support/web.py, tests/support/apps.py and tests/support/adapter_apps.py belong here too; they move
with the adapter tests that use them.
"""
