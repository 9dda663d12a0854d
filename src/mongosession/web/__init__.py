"""The session layer between a web framework and the store.

- :mod:`.cookies`, :mod:`.config`, :mod:`.session`, :mod:`.rules`: express-session's
  semantics, with no I/O; :func:`.rules.saves_after` is the rule of a failed request
  (a 5xx response or a handler that raised saves nothing), for every adapter;
- :mod:`.failures`: what a session failure becomes (one :class:`~.failures.Failure`),
  for every adapter;
- :mod:`.calls`: typed store calls, for programs of steps (the Django adapter's);
- :mod:`.asgi_support` (the ASGI middleware and Litestar) and :mod:`.flasklike` (Flask
  and Quart; it imports werkzeug): what the adapters of one family share;
- :mod:`.asynchronous`: one request's session I/O (the exchange) and the runner of
  steps, written by hand; :mod:`.synchronous`: generated from it by ``tools/unasync.py``.
"""
