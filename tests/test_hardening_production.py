"""Production hardening, end to end (issue 12): ``./serve.sh`` with ``SEATCLOCK_MODE=production``
itself — Granian running the shipped ``config.asgi`` application on the real settings — over a
private PostgreSQL and a private Redis, both with a password in their
URL (the secrets no page may show).  Each test reproduces one finding of the issue against these
processes; the destructive ones (Redis killed, PostgreSQL frozen) come last.

Rates: the spec's 10 reservations/min per client is kept; the general API limit is raised to
1000/min so that the other tests are not throttled (all of them come from 127.0.0.1).  The rate
limit test speaks from addresses of its own (127.0.0.x).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client as httpclient
import json
import secrets
import socket
import subprocess
import sys
import threading
import urllib.parse

import psycopg
import pytest
import websockets

from tests.processes import http, private_postgres, private_redis, script, wait_for
from tests.servers import BASE_DIR, server_env

pytestmark = pytest.mark.slow

DB_PASSWORD = "db-pw-" + secrets.token_hex(6)
REDIS_PASSWORD = "redis-pw-" + secrets.token_hex(6)
OPERATOR_PASSWORD = "op-pw-" + secrets.token_hex(6)


class Production:
    def __init__(self, server, pg, redis, env, database_url):
        self.server, self.pg, self.redis, self.env, self.database_url = server, pg, redis, env, database_url
        self.base = server.base
        self.token = ""  # the operator's API token (staff)

    def sql(self, query: str, *params):
        with psycopg.connect(self.pg.url("seatclock"), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env={**self.env, "DJANGO_SUPERUSER_PASSWORD": OPERATOR_PASSWORD},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    def staff(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def seats(self) -> list[dict]:
        return http("GET", self.base + "/api/seats", headers=self.staff()).json()


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("production")
    with private_postgres() as pg, private_redis(log_dir, password=REDIS_PASSWORD) as redis:
        pg.create_database("seatclock")
        database_url = pg.url("seatclock", password=DB_PASSWORD)
        env = server_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis.url,
            SEATCLOCK_MODE="production",
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="false",
            WORKERS="2",
            SEATCLOCK_RATE_LIMIT_API="1000/min",
            SEATCLOCK_WS_HEARTBEAT="0.5",
        )
        for name in ("DEBUG", "SEATCLOCK_RATE_LIMITS", "SEATCLOCK_OPEN_CLOCK_CONTROLS", "NUM_PROXIES"):
            env.pop(name, None)
        with script("./serve.sh", env, log_dir) as server:
            p = Production(server, pg, redis, env, database_url)
            p.manage("createsuperuser", "--noinput", "--username", "operator", "--email", "op@example.com")
            p.token = p.manage("drf_create_token", "operator").split()[2]
            yield p
        log = server.log()
        assert "Internal Server Error" not in log, log[-3000:]
        assert DB_PASSWORD not in log and REDIS_PASSWORD not in log


def assert_envelope(reply, status: int, code: str) -> dict:
    assert reply.status == status, reply.text
    body = reply.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert "Traceback" not in reply.text
    return body["error"]


def reserve(base: str, seat_id: int, name: str, server_id: str = "server-1", *, source: str, headers=None):
    body = {"seat_id": seat_id, "customer_name": name, "server_id": server_id}
    return http("POST", base + "/api/reservations", body, headers=headers, source=source)


def request_from(source: str, method: str, url: str, body=None, headers=None) -> tuple[int, dict, str]:
    """One request sent from the loopback address ``source`` (a client of its own)."""
    parts = urllib.parse.urlsplit(url)
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=15, source_address=(source, 0))
    data = json.dumps(body).encode() if body is not None else None
    conn.request(
        method,
        parts.path + (f"?{parts.query}" if parts.query else ""),
        data,
        {
            **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {}),
        },
    )
    response = conn.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode()
    conn.close()
    return result


def admin_login(base: str, source: str, password: str) -> tuple[int, str | None]:
    """POST the admin login form from ``source``: (status, session id or None)."""
    csrf = secrets.token_hex(16)
    form = urllib.parse.urlencode(
        {"username": "operator", "password": password, "csrfmiddlewaretoken": csrf, "next": "/admin/"}
    )
    parts = urllib.parse.urlsplit(base)
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=15, source_address=(source, 0))
    conn.request(
        "POST",
        "/admin/login/?next=/admin/",
        form,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={csrf}"},
    )
    response = conn.getresponse()
    response.read()
    cookies = " ".join(v for k, v in response.getheaders() if k.lower() == "set-cookie")
    conn.close()
    session = next((c.split("=", 1)[1] for c in cookies.replace(";", " ").split() if c.startswith("sessionid=")), None)
    return response.status, session


# --------------------------------------------------------------------------- 12: the mode itself


def test_production_mode_closes_clock_controls_and_counts_rate_limits(prod):
    refused = http("POST", prod.base + "/api/simulation/set-offset", {"server_id": "server-2", "offset_seconds": 5})
    assert refused.status in (401, 403)
    assert refused.json()["error"]["code"] in ("NOT_AUTHENTICATED", "PERMISSION_DENIED")
    listed = http("GET", prod.base + "/api/reservations")
    assert listed.headers["X-RateLimit-Limit"] == "1000"
    allowed = http(
        "POST",
        prod.base + "/api/simulation/set-offset",
        {"server_id": "server-2", "offset_seconds": 0},
        headers=prod.staff(),
    )
    assert allowed.status == 200, allowed.text


# --------------------------------------------------------------------------- 1: cancel tokens


def test_cancelling_needs_the_cancel_token_or_a_staff_user(prod):
    seats = prod.seats()
    created = reserve(prod.base, seats[0]["id"], "Jean Dupont", source="127.0.0.11")
    assert created.status == 201, created.text
    token, rid = created.json()["cancel_token"], created.json()["id"]
    # Stored hashed: the database has the SHA-256 digest, never the token.
    [(stored,)] = prod.sql("SELECT cancel_token_digest FROM reservations_reservation WHERE id = %s", rid)
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored
    # Shown once: not in the reservation's other representations.
    assert "cancel_token" not in http("GET", prod.base + f"/api/reservations/{rid}").json()

    url = prod.base + f"/api/reservations/{rid}"
    assert_envelope(http("DELETE", url), 403, "INVALID_CANCEL_TOKEN")
    assert_envelope(http("DELETE", url, headers={"X-Cancel-Token": "x" + token[1:]}), 403, "INVALID_CANCEL_TOKEN")
    assert http("GET", url).status == 200  # refused: nothing changed
    assert http("DELETE", url, headers={"X-Cancel-Token": token}).status == 204
    assert_envelope(http("DELETE", url, headers={"X-Cancel-Token": token}), 404, "RESERVATION_NOT_FOUND")

    other = reserve(prod.base, seats[1]["id"], "Marie Martin", source="127.0.0.11").json()["id"]
    assert http("DELETE", prod.base + f"/api/reservations/{other}", headers=prod.staff()).status == 204


# --------------------------------------------------------------------------- 2: initials


def test_the_public_reads_initials_everywhere_staff_whole_names(prod):
    seats = prod.seats()
    seat = seats[2]["id"]

    async def live() -> tuple[dict, dict, dict]:
        status, session = await asyncio.to_thread(admin_login, prod.base, "127.0.0.21", OPERATOR_PASSWORD)
        assert status == 302 and session, status
        public = await websockets.connect(prod.server.ws_base + "/ws/updates", origin=prod.base)
        staff = await websockets.connect(
            prod.server.ws_base + "/ws/updates", origin=prod.base, additional_headers={"Cookie": f"sessionid={session}"}
        )
        for ws in (public, staff):
            await ws.send(json.dumps({"type": "subscribe", "topics": ["reservations"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
        created = await asyncio.to_thread(lambda: reserve(prod.base, seat, "Jeanne Martin", source="127.0.0.12"))
        assert created.status == 201, created.text
        seen = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for ws in (public, staff)]
        await public.close()
        await staff.close()
        return created.json(), seen[0], seen[1]

    created, public_event, staff_event = asyncio.run(live())
    assert created["customer_name"] == "J. M."
    assert public_event["type"] == staff_event["type"] == "reservation_created"
    assert public_event["data"]["customer_name"] == "J. M."
    assert staff_event["data"]["customer_name"] == "Jeanne Martin"

    rid = created["id"]
    public_reads = {
        "list": http("GET", prod.base + f"/api/reservations?seat_id={seat}").json()["reservations"][0],
        "one": http("GET", prod.base + f"/api/reservations/{rid}").json(),
        "seat": http("GET", prod.base + f"/api/seats/{seat}").json()["reservation"],
        "venue": next(s for s in http("GET", prod.base + "/api/seats").json() if s["id"] == seat)["reservation"],
        "409": reserve(prod.base, seat, "Paul Durand", source="127.0.0.12").json()["error"]["details"][
            "existing_reservation"
        ],
    }
    assert {where: r["customer_name"] for where, r in public_reads.items()} == dict.fromkeys(public_reads, "J. M.")
    staff_read = http("GET", prod.base + f"/api/reservations/{rid}", headers=prod.staff()).json()
    assert staff_read["customer_name"] == "Jeanne Martin"
    page = http("GET", prod.base + "/").text
    assert "Jeanne Martin" not in page and '"J. M."' in page

    # Conflicts: server-2 lags 10 s (staff moves clocks), and double-books the seat.
    lag = {"server_id": "server-2", "offset_seconds": -10}
    assert http("POST", prod.base + "/api/simulation/set-offset", lag, headers=prod.staff()).status == 200
    try:
        double = reserve(prod.base, seat, "Paul Durand", "server-2", source="127.0.0.12")
        assert double.status == 201 and double.json()["conflict_detected"], double.text
    finally:
        http("POST", prod.base + "/api/simulation/clear-offsets", headers=prod.staff())
    conflicts = http("GET", prod.base + "/api/reservations/conflicts").json()["conflicts"]
    names = {r["customer_name"] for c in conflicts if c["seat_id"] == seat for r in c["reservations"]}
    assert names == {"J. M.", "P. D."}
    conflicts = http("GET", prod.base + "/api/reservations/conflicts", headers=prod.staff()).json()["conflicts"]
    names = {r["customer_name"] for c in conflicts if c["seat_id"] == seat for r in c["reservations"]}
    assert names == {"Jeanne Martin", "Paul Durand"}


# --------------------------------------------------------------------------- 6, 11: bad input


def test_bad_input_is_refused_in_the_envelope_never_a_500(prod):
    base = prod.base
    nested = http("POST", base + "/api/reservations", raw=b"[" * 100_000 + b"]" * 100_000, source="127.0.0.13")
    assert_envelope(nested, 400, "VALIDATION_ERROR")
    # 10 MB: refused from its Content-Length, and the client still reads the answer.
    big = http("POST", base + "/api/reservations", raw=b'{"x": "' + b"a" * 10_000_000 + b'"}')
    assert assert_envelope(big, 413, "PAYLOAD_TOO_LARGE")["details"]["max_bytes"] == 2_621_440
    fields = http("GET", base + "/api/reservations?" + "&".join("a" for _ in range(1001)))
    assert_envelope(fields, 400, "BAD_REQUEST")
    assert http("GET", base + "/api/reservations?" + "&".join("a" for _ in range(999))).status == 200
    # Path identifiers: checked before the database, details keep the spec's integer type.
    assert assert_envelope(http("GET", base + "/api/reservations/a%00b"), 404, "RESERVATION_NOT_FOUND")["details"] == {
        "reservation_id": None
    }
    assert assert_envelope(http("GET", base + "/api/seats/999"), 404, "SEAT_NOT_FOUND")["details"] == {"seat_id": 999}
    removed = http("DELETE", base + "/api/simulation/remove-offset/a%00b", headers=prod.staff())
    assert assert_envelope(removed, 400, "INVALID_SERVER_ID")["details"] == {"server_id": "a\x00b"}
    # Unicode text rules: C1 controls, bidi overrides, invisible-only minimums.
    for name in ("Jean\u0085Dupont", "Jean\u009bDupont", "Jean \u202eDupont", "J\u0301"):
        refused = reserve(base, prod.seats()[5]["id"], name, source="127.0.0.13")
        assert "customer_name" in assert_envelope(refused, 400, "VALIDATION_ERROR")["details"]
    # The admin's change page of a node whose id holds a NUL byte (quoted "_00" or %00).
    status, session = admin_login(base, "127.0.0.22", OPERATOR_PASSWORD)
    assert status == 302 and session
    for path in ("/admin/timesync/servernode/a%00b/change/", "/admin/timesync/servernode/a_00b/change/"):
        parts = urllib.parse.urlsplit(base)
        conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=15)
        conn.request("GET", path, headers={"Cookie": f"sessionid={session}"})
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 302, (path, response.status)  # "does not exist", back to the admin


# --------------------------------------------------------------------------- 4: no debug page


def test_no_debug_page_and_no_secret_in_any_answer(prod):
    csrf = secrets.token_hex(16)
    form = http(
        "POST",
        prod.base + "/admin/login/",
        raw=b"a=" + b"x" * 3_000_000,
        content_type="application/x-www-form-urlencoded",
        headers={"Cookie": f"csrftoken={csrf}", "X-CSRFToken": csrf},
    )
    assert form.status == 413, form.text[:500]
    missing = http("GET", prod.base + "/no-such-page")
    for reply in (form, missing):
        assert DB_PASSWORD not in reply.text and REDIS_PASSWORD not in reply.text
        assert "Traceback" not in reply.text and "DATABASES" not in reply.text and "URLconf" not in reply.text


# --------------------------------------------------------------------------- 10: Idempotency-Key


def test_a_retry_after_a_lost_answer_gets_the_first_answer(prod):
    SOURCE = "127.0.0.14"  # noqa: N806
    seat = prod.seats()[3]["id"]
    key = secrets.token_hex(16)
    body = json.dumps({"seat_id": seat, "customer_name": "Lost Answer", "server_id": "server-1"}).encode()
    request = (
        f"POST /api/reservations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", prod.server.port), timeout=10, source_address=(SOURCE, 0)) as sock:
        sock.sendall(request)  # ... and hang up before the answer: it is lost
    count = "SELECT count(*) FROM reservations_reservation WHERE seat_id = %s"
    wait_for("the first request committed", lambda: prod.sql(count, seat)[0][0] == 1)

    retry = http("POST", prod.base + "/api/reservations", raw=body, headers={"Idempotency-Key": key}, source=SOURCE)
    assert retry.status == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    again = http("POST", prod.base + "/api/reservations", raw=body, headers={"Idempotency-Key": key}, source=SOURCE)
    assert again.json() == retry.json()
    assert prod.sql(count, seat)[0][0] == 1  # never a second reservation
    # The replayed answer is the first one: its cancel token cancels.
    cancel = {"X-Cancel-Token": retry.json()["cancel_token"]}
    assert http("DELETE", prod.base + f"/api/reservations/{retry.json()['id']}", headers=cancel).status == 204
    other = json.dumps({"seat_id": seat, "customer_name": "Someone Else", "server_id": "server-1"}).encode()
    reused = http("POST", prod.base + "/api/reservations", raw=other, headers={"Idempotency-Key": key}, source=SOURCE)
    assert_envelope(reused, 422, "IDEMPOTENCY_KEY_REUSED")


# --------------------------------------------------------------------------- 3: client identity


def test_a_made_up_x_forwarded_for_does_not_reset_the_rate_limit(prod):
    url = prod.base + "/api/reservations"
    attempt = {"seat_id": 999_999, "customer_name": "Rate Limited", "server_id": "server-1"}
    statuses = [request_from("127.0.0.31", "POST", url, attempt)[0] for _ in range(10)]
    assert statuses == [404] * 10  # counted, though refused by the rule
    status, headers, text = request_from("127.0.0.31", "POST", url, attempt)
    assert status == 429 and json.loads(text)["error"]["code"] == "RATE_LIMITED"
    for forged in ("203.0.113.9", "203.0.113.9, 198.51.100.7", "127.0.0.32"):
        status, headers, _ = request_from("127.0.0.31", "POST", url, attempt, {"X-Forwarded-For": forged})
        assert (status, headers.get("x-ratelimit-remaining")) == (429, "0"), forged
    assert request_from("127.0.0.32", "POST", url, attempt)[0] == 404  # another client: its own count


# --------------------------------------------------------------------------- 9: admin login throttling


def test_thirty_wrong_passwords_then_the_right_one_does_not_log_in(prod):
    source = "127.0.0.41"
    wrong = [admin_login(prod.base, source, f"wrong-{i}")[0] for i in range(30)]
    assert wrong[:4] == [200] * 4 and set(wrong[5:]) == {429}  # 5 failures allowed, then locked out
    status, session = admin_login(prod.base, source, OPERATOR_PASSWORD)
    assert (status, session) == (429, None)
    assert admin_login(prod.base, "127.0.0.42", OPERATOR_PASSWORD)[0] == 302  # another address is not locked
    # The cool-off (15 min) passes: its attempts are dated back, no sleeping.
    prod.sql("UPDATE axes_accessattempt SET attempt_time = attempt_time - interval '16 minutes'")
    status, session = admin_login(prod.base, source, OPERATOR_PASSWORD)
    assert status == 302 and session


# --------------------------------------------------------------------------- 12, 8: WebSocket


def test_the_shipped_asgi_application_checks_the_origin(prod):
    async def connect(origin: str):
        async with websockets.connect(prod.server.ws_base + "/ws/updates", origin=origin, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topics": []}))
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    assert asyncio.run(connect(prod.base))["type"] == "subscribed"
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(connect("http://evil.example"))
    assert refused.value.response.status_code == 403


def group_subscriptions(prod) -> list[bytes]:
    return list(prod.redis.client().pubsub_channels("asgi__group__*"))


def test_group_memberships_are_left_on_every_exit_path(prod):
    url = prod.server.ws_base + "/ws/updates"
    subscribe = json.dumps({"type": "subscribe", "topics": ["reservations", "time_sync", "conflicts"]})

    async def hang_up_during_the_ack(i: int) -> None:
        ws = await websockets.connect(url, origin=prod.base, open_timeout=10)
        await ws.send(subscribe)
        if i % 2:
            await ws.close()  # a clean close while the ack is on its way
        else:
            ws.transport.abort()  # the connection just drops

    async def crowd() -> None:
        for start in range(0, 300, 50):
            await asyncio.gather(*(hang_up_during_the_ack(i) for i in range(start, start + 50)))

    asyncio.run(crowd())
    wait_for("no group subscription left in Redis", lambda: group_subscriptions(prod) == [], timeout=30)


def test_a_channel_layer_outage_tells_connected_clients(prod):
    async def subscribed():
        ws = await websockets.connect(prod.server.ws_base + "/ws/updates", origin=prod.base, open_timeout=10)
        try:
            await ws.send(json.dumps({"type": "subscribe", "topics": ["reservations"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
        except BaseException:
            # A failed attempt (the feed not back yet) must not leave its connection to the
            # garbage collector: an unclosed transport warns, and pytest fails whichever test
            # is running then.
            await ws.close()
            raise
        return ws

    async def outage() -> tuple[dict, int | None]:
        ws = await subscribed()
        await asyncio.to_thread(prod.redis.kill)
        stale = json.loads(await asyncio.wait_for(ws.recv(), 20))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 20)
        return stale, ws.close_code

    stale, code = asyncio.run(outage())
    assert stale["type"] == "stale" and code == 1013
    prod.redis.start()  # back on the same port: clients reconnect and subscribe again

    async def back() -> None:
        ws = await subscribed()
        try:
            seat = prod.seats()[4]["id"]
            created = await asyncio.to_thread(lambda: reserve(prod.base, seat, "After Outage", source="127.0.0.15"))
            assert created.status in (201, 409), created.text  # 409: a poll before this one got the seat
            if created.status == 201:
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "reservation_created"
        finally:
            await ws.close()

    wait_for("the live feed back", lambda: asyncio.run(_try(back)), timeout=30, interval=0.5)


async def _try(coroutine_function) -> bool:
    try:
        await coroutine_function()
    except (TimeoutError, OSError, websockets.WebSocketException, AssertionError):
        return False
    return True


# --------------------------------------------------------------------------- 5: a hung database


def test_a_held_row_lock_is_a_409_after_the_lock_timeout(prod):
    seat = prod.seats()[6]["id"]
    with psycopg.connect(prod.pg.url("seatclock")) as holder:
        holder.execute("SELECT id FROM seats_seat WHERE id = %s FOR UPDATE", (seat,))
        busy = reserve(prod.base, seat, "Lock Waiter", source="127.0.0.16")
        assert_envelope(busy, 409, "LOCK_TIMEOUT")
        assert busy.headers["Retry-After"] == "1"
    assert reserve(prod.base, seat, "Lock Waiter", source="127.0.0.16").status == 201


def test_a_frozen_database_gives_503_in_the_envelope_and_liveness_stays_up(prod):
    assert http("GET", prod.base + "/health/ready").status == 200
    prod.pg.pause()
    try:
        replies: list = []

        def get(path: str) -> None:
            replies.append(http("GET", prod.base + path, timeout=30))

        threads = [threading.Thread(target=get, args=(p,)) for p in ["/api/seats", "/api/reservations"] * 3]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(replies) == 6
        for reply in replies:
            assert_envelope(reply, 503, "SERVICE_UNAVAILABLE")
            assert reply.headers["Retry-After"] == "5"
        assert http("GET", prod.base + "/health/live", timeout=30).status == 200
        assert http("GET", prod.base + "/health/ready", timeout=30).status == 503
        attempt = reserve(prod.base, 1, "Frozen Database", source="127.0.0.17")
        assert_envelope(attempt, 503, "SERVICE_UNAVAILABLE")
    finally:
        prod.pg.resume()
    wait_for("/health/ready back to 200", lambda: http("GET", prod.base + "/health/ready").status == 200)
    # Every worker back: one that failed to connect during the freeze fails fast for its
    # reconnect backoff (up to 5 s, core.postgresql) even after /health/ready answers from another.
    wait_for(
        "every worker reconnected",
        lambda: all(http("GET", prod.base + "/health/ready").status == 200 for _ in range(8)),
        timeout=30,
    )
    assert reserve(prod.base, prod.seats()[7]["id"], "Database Back", source="127.0.0.17").status == 201
    assert "database unavailable" in prod.server.log()
