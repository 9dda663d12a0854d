"""A minimal Flask app with sessions in MongoDB.

    python examples/flask_app.py            # http://127.0.0.1:8000/ (waitress)

Uses ``MONGODB_URI`` when set, else a throwaway local MongoDB. Try::

    curl -c jar -b jar localhost:8000/                    # 1, 2, 3...
    curl -c jar -b jar -X POST 'localhost:8000/login?user=alice'
    curl -c jar -b jar localhost:8000/whoami              # alice
    curl -c jar -b jar -X POST localhost:8000/logout
"""

from __future__ import annotations

import os

from _mongodb import database_uri, port_argument
from flask import Flask, request, session

from mongosession.flask import MongoSession

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("SESSION_SECRET", "dev secret: change me"),
    MONGOSESSION_URI=database_uri("flask_example"),
    MONGOSESSION_STORE={"ttl": 14 * 24 * 3600, "touch_after": 60},
)
MongoSession(app)


@app.get("/")
def visits() -> str:
    session["visits"] = session.get("visits", 0) + 1
    return f"{session['visits']}\n"


@app.post("/login")
def login() -> str:
    session.regenerate()  # new id on login: the old cookie is worthless now
    session["user"] = request.args["user"]
    return "welcome\n"


@app.get("/whoami")
def whoami() -> str:
    return f"{session.get('user', 'anonymous')}\n"


@app.post("/logout")
def logout() -> str:
    session.destroy()
    return "bye\n"


if __name__ == "__main__":
    from waitress import serve

    serve(app, host="127.0.0.1", port=port_argument())
