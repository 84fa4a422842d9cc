"""Durability: what the server acknowledged survives the server being killed.

Several client threads POST reservations for distinct seats through random nodes while the
app server (``processes.server_argv``: Daphne) is killed with SIGKILL in the middle of the
load and started again.  Every reservation answered 201 must be in the database afterwards,
exactly as acknowledged; nothing appears that no client asked for.  Requests cut off by the
kill have an unknown outcome and are only checked against the second rule.

PostgreSQL: the machine's server on 127.0.0.1:5432, in a database of this test's own.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import pytest

from tests.processes import AppServer, http, wait_for
from tests.servers import manage, require_servers, scratch_database, server_env

pytestmark = pytest.mark.slow

NODES = [f"server-{i}" for i in range(1, 6)]
CLIENTS = 6
REQUESTS_PER_CLIENT = 60
KILL_AFTER = CLIENTS * REQUESTS_PER_CLIENT // 3  # acknowledged reservations before the kill


@pytest.fixture
def durability_database():
    require_servers()
    with scratch_database("seatclock_rel_durability") as url:
        yield url


@dataclass
class Load:
    """What the clients saw, shared between their threads."""

    base: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: dict[int, tuple[int, str, str]] = field(default_factory=dict)  # id -> (seat, name, node)
    attempted: set[str] = field(default_factory=set)  # every customer name sent
    cut_off: list[str] = field(default_factory=list)  # no answer: outcome unknown
    refused: list[tuple[int, str]] = field(default_factory=list)  # any answer other than 201
    errors: list[str] = field(default_factory=list)  # a client thread's own failure
    server_back: threading.Event = field(default_factory=threading.Event)
    killed: threading.Event = field(default_factory=threading.Event)


def client(load: Load, number: int, seats: list[int]) -> None:
    try:
        _client(load, number, seats)
    except BaseException as exc:  # reported by the test, not lost in a thread
        with load.lock:
            load.errors.append(f"client {number}: {exc!r}")


def _client(load: Load, number: int, seats: list[int]) -> None:
    rng = random.Random(number)
    for i, seat in enumerate(seats):
        name = f"Client {number} #{i}"
        node = rng.choice(NODES)
        with load.lock:
            load.attempted.add(name)
            base = load.base
        try:
            reply = http(
                "POST",
                base + "/api/reservations",
                {"seat_id": seat, "customer_name": name, "server_id": node},
                timeout=20,
            )
        except OSError:  # connection refused/reset: the server was killed under this request
            with load.lock:
                load.cut_off.append(name)
            assert load.killed.is_set(), f"{name}: no answer although the server was not killed"
            assert load.server_back.wait(timeout=120), "the server did not come back"
            continue
        with load.lock:
            if reply.status == 201:
                body = reply.json()
                load.acknowledged[body["id"]] = (seat, name, node)
            else:
                load.refused.append((reply.status, reply.text))


def test_acknowledged_reservations_survive_sigkill(durability_database, tmp_path):
    import psycopg

    env = server_env(DATABASE_URL=durability_database)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_venue", "--rows", "20", "--seats-per-row", str(CLIENTS * REQUESTS_PER_CLIENT // 20))

    server = AppServer(env, tmp_path).start()
    try:
        seat_ids = [seat["id"] for seat in http("GET", server.base + "/api/seats").json()]
        assert len(seat_ids) >= CLIENTS * REQUESTS_PER_CLIENT
        load = Load(base=server.base)
        threads = [
            threading.Thread(target=client, args=(load, n, seat_ids[n::CLIENTS][:REQUESTS_PER_CLIENT]), daemon=True)
            for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()

        def enough() -> bool:
            assert not load.errors, load.errors
            return len(load.acknowledged) >= KILL_AFTER

        wait_for("acknowledged reservations before the kill", enough, timeout=120)
        load.killed.set()
        server.kill()  # SIGKILL in the middle of the load: no shutdown, no flush
        before_kill = len(load.acknowledged)
        with load.lock:
            load.base = server.start().base  # same command, new port
        load.server_back.set()

        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        server.stop()

    assert load.errors == []
    assert load.refused == []  # distinct seats: every answer was a 201
    assert before_kill >= KILL_AFTER
    assert len(load.acknowledged) > before_kill  # the load went on after the restart
    assert len(load.acknowledged) + len(load.cut_off) == CLIENTS * REQUESTS_PER_CLIENT

    with psycopg.connect(durability_database) as conn:
        rows = conn.execute(
            "SELECT id, seat_id, customer_name, server_id, status FROM reservations_reservation"
        ).fetchall()
    stored = {row[0]: row[1:] for row in rows}
    missing = sorted(set(load.acknowledged) - set(stored))
    assert missing == [], f"acknowledged with 201 but lost: {missing}"
    for pk, (seat, name, node) in load.acknowledged.items():
        assert stored[pk] == (seat, name, node, "active")
    # Nothing that no client asked for; a cut-off request either committed or did not.
    assert {row[2] for row in rows} <= load.attempted
    assert len(rows) - len(load.acknowledged) <= len(load.cut_off)
