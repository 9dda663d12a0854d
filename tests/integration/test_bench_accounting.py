"""The HTTP benchmark counts database commands per request exactly, however slow the server.

CI once saw ``db cmds/req`` 3.34 for a route that sends two commands: in a short run on a
busy machine a stack completed a handful of requests, and the ones wrk left in flight when
it stopped were served (their commands counted) but not divided by. The harness now
divides by the requests completed plus those left in flight (one per connection, bounded
by the wrk script's count of the requests it prepared) and reads the counters once those
are served. Here a deliberately slow server (50 ms of CPU per
request, one ``find`` each) makes the requests in flight a large share of the run.

CI then saw 0.97 finds per request here, in a run that ended with two of four
connections in flight: the script's count of ``request()`` calls included the one wrk
makes before the run to check the request, so one request too many was counted in
flight. The count now leaves that call out.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench import web
from pymongo import MongoClient, UpdateOne

from mongosession.testing.localdb import LocalMongod, free_port

SLOW_SERVER = textwrap.dedent(
    """
    import sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pymongo import MongoClient, UpdateOne

    collection = MongoClient(sys.argv[2]).bench_slow.sessions  # the harness counts there

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            busy_until = time.process_time() + 0.05  # work, as a real handler's is
            while time.process_time() < busy_until:
                pass
            collection.find_one({})
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except BrokenPipeError:  # wrk closes its connections when it stops
                self.close_connection = True

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Slow).serve_forever()
    """
)


@pytest.fixture
def slow_stack(mongodb_uri: str, tmp_path: Path) -> Iterator[web.Stack]:
    port = free_port()
    script = tmp_path / "slow_server.py"
    script.write_text(SLOW_SERVER)
    command = [sys.executable, str(script), str(port), mongodb_uri]
    with MongoClient(mongodb_uri) as client:  # the collection the server reads, existing
        client.bench_slow.sessions.replace_one({"_id": "x"}, {"_id": "x"}, upsert=True)
    proc = subprocess.Popen(command)
    stack = web.Stack("slow", "a slow server", "slow", "none", command, proc=proc, port=port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield stack
    finally:
        proc.terminate()
        proc.wait(10)


def test_commands_per_request_count_the_requests_left_in_flight(
    mongodb_uri: str, local_mongod: LocalMongod | None, slow_stack: web.Stack
) -> None:
    if web.wrk_path() is None:
        pytest.skip("wrk is not installed (Debian: apt-get install wrk)")
    with MongoClient(mongodb_uri) as client:
        runner = web.Runner("wrk", client, local_mongod.pid if local_mongod else None)
        sample = runner.sample(slow_stack, web.WORKLOADS["none"], connections=4, seconds=1)
    load = sample.load
    # 50 ms of CPU a request, one at a time (the GIL): about 20 complete, 4 left in flight.
    assert load.served > load.requests > 0, load
    assert sample.ops["query"] / load.served == pytest.approx(1.0, abs=0.01), (sample.ops, load)


def test_commands_per_request_count_only_the_stacks_own_collection(
    mongodb_uri: str, local_mongod: LocalMongod | None, slow_stack: web.Stack
) -> None:
    """Other work on the same ``mongod`` during a run is not the stack's.

    CI saw 3.34 and 3.38 commands per request for a route that sends two, in a full
    test run on a shared ``mongod``: the counts were server-wide (``serverStatus``),
    so anything else the server did during the run was counted as the stack's. Here
    another client sends a burst of a thousand upserts to another collection during
    the run.
    """
    if web.wrk_path() is None:
        pytest.skip("wrk is not installed (Debian: apt-get install wrk)")

    def elsewhere() -> None:
        time.sleep(0.3)
        with MongoClient(mongodb_uri) as other:
            other.bench_other.noise.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"at": i}}, upsert=True) for i in range(1000)]
            )

    burst = threading.Thread(target=elsewhere)
    burst.start()
    try:
        with MongoClient(mongodb_uri) as client:
            runner = web.Runner("wrk", client, local_mongod.pid if local_mongod else None)
            sample = runner.sample(slow_stack, web.WORKLOADS["none"], connections=4, seconds=1)
    finally:
        burst.join()
    load = sample.load
    assert load.served > 0, load
    assert sample.ops["update"] == 0, sample.ops
    assert sample.ops["query"] / load.served == pytest.approx(1.0, abs=0.01), (sample.ops, load)
