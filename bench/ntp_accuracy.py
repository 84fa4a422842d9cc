"""NTP accuracy benchmark: N syncs against chronyd and against Seatclock's own server.

Each sync is one ``timesync.ntp.query(address, samples=4, timeout=1.0)`` (4 requests, the
minimum-delay sample kept).  Both servers run on 127.0.0.1 and serve this host's clock, so
the true offset is 0 and the measured |offset| is the measurement error.

Usage (from the repository root)::

    .venv/bin/python bench/ntp_accuracy.py [--syncs 100] [--samples 4] [--timeout 1.0]

chronyd (Debian package ``chrony``) is started like in ``timesync/tests/test_chrony_interop.py``:
temp config with ``local stratum 8`` on a free loopback port, ``chronyd -d -x -u root -f conf``.
Without chronyd only our server is measured.  Exits non-zero if any sync failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timesync import clock, ntp
from timesync.ntp_server import NtpServer


def find_chronyd() -> str | None:
    return shutil.which("chronyd") or next(
        (p for p in ("/usr/sbin/chronyd", "/sbin/chronyd") if os.access(p, os.X_OK)),
        None,
    )


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def chrony_server(chronyd: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="seatclock-chrony-") as tmp:
        tmp_path = Path(tmp)
        port = free_udp_port()
        conf = tmp_path / "chrony.conf"
        conf.write_text(
            f"local stratum 8\nallow 127.0.0.1\nport {port}\nbindaddress 127.0.0.1\ncmdport 0\n"
            f"pidfile {tmp_path / 'chronyd.pid'}\ndriftfile {tmp_path / 'chronyd.drift'}\n"
        )
        user = ["-u", "root"] if os.geteuid() == 0 else ["-U"]
        log_path = tmp_path / "chronyd.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [chronyd, "-d", "-x", *user, "-f", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        address = f"127.0.0.1:{port}"
        try:
            deadline = clock.monotonic() + 15
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"chronyd exited ({proc.returncode}):\n{log_path.read_text()}")
                try:
                    ntp.query(address, samples=1, timeout=0.3)
                    break
                except ntp.NtpError:
                    if clock.monotonic() > deadline:
                        raise RuntimeError(f"chronyd never answered:\n{log_path.read_text()}") from None
                    time.sleep(0.05)
            yield address
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


@contextmanager
def seatclock_server_thread() -> Iterator[str]:
    """Our server in a thread of this process (as the tests run it): shares the GIL with
    the client, which adds to the measured delay."""
    server = NtpServer(port=0, stratum=2)
    try:
        server.start_in_thread()
        yield server.address
    finally:
        server.shutdown()


_CHILD = """
from timesync.ntp_server import NtpServer
server = NtpServer(port=0, stratum=2)
print(server.port, flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
finally:
    server.close()
"""


@contextmanager
def seatclock_server_process() -> Iterator[str]:
    """Our server in its own Python process (as ``manage.py ntpserver`` runs it)."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        cwd=root,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def measure(address: str, syncs: int, samples: int, timeout: float) -> dict[str, float]:
    offsets: list[float] = []
    delays: list[float] = []
    bounds: list[float] = []
    failures = 0
    started = clock.monotonic()
    for _ in range(syncs):
        try:
            result = ntp.query(address, samples=samples, timeout=timeout)
        except ntp.NtpError as exc:
            failures += 1
            print(f"  sync failed: {exc.reason}: {exc}", file=sys.stderr)
            continue
        offsets.append(abs(result.offset))
        delays.append(result.delay)
        bounds.append(result.error_bound)
    elapsed = clock.monotonic() - started
    if not offsets:
        return {"ok": 0, "failed": failures, "seconds": elapsed}
    ordered = sorted(offsets)
    return {
        "ok": len(offsets),
        "failed": failures,
        "median_abs_offset": statistics.median(offsets),
        "p95_abs_offset": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "worst_abs_offset": max(offsets),
        "median_delay": statistics.median(delays),
        "worst_delay": max(delays),
        "median_error_bound": statistics.median(bounds),
        "seconds": elapsed,
    }


def us(value: float) -> str:
    return f"{value * 1e6:9.1f} µs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syncs", type=int, default=100)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args(argv)

    print(
        f"{args.syncs} syncs per server, samples={args.samples}, timeout={args.timeout} s; "
        f"python {platform.python_version()}, {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs"
    )
    targets: list[tuple[str, object]] = []
    chronyd = find_chronyd()
    if chronyd:
        version = subprocess.run([chronyd, "--version"], capture_output=True, text=True, check=False).stdout
        match = re.search(r"version (\S+)", version)
        label = f"chronyd {match.group(1)}" if match else "chronyd"
        targets.append((label, lambda: chrony_server(chronyd)))
    else:
        print("chronyd not found (apt-get install -y chrony): measuring only Seatclock's server")
    targets.append(("seatclock NtpServer, own process", seatclock_server_process))
    targets.append(("seatclock NtpServer, thread in the client's process", seatclock_server_thread))

    failed = 0
    for name, start in targets:
        with start() as address:  # type: ignore[operator]
            stats = measure(address, args.syncs, args.samples, args.timeout)
        failed += int(stats["failed"])
        print(f"\n{name} at {address}: {stats['ok']:.0f} ok, {stats['failed']:.0f} failed, {stats['seconds']:.2f} s")
        if stats["ok"]:
            print(f"  median |offset|     {us(stats['median_abs_offset'])}")
            print(f"  p95 |offset|        {us(stats['p95_abs_offset'])}")
            print(f"  worst |offset|      {us(stats['worst_abs_offset'])}")
            print(f"  median delay        {us(stats['median_delay'])}")
            print(f"  worst delay         {us(stats['worst_delay'])}")
            print(f"  median error bound  {us(stats['median_error_bound'])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
