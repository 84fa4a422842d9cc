from core.commands import ServiceCommand
from core.timefmt import iso_utc
from timesync import clock
from timesync.selectors import node_list, node_time


def _stamp(value) -> str:
    return iso_utc(value) if value else "never"


LEGEND = """\
  NODE TIME    what the node's clock reads at that true instant (UTC)
  OFFSET       node time minus true time, in seconds, drift included (negative: the clock lags)
  DRIFT        how fast the offset grows, in parts per million (1 ppm = 1 µs gained per second)
  SYNCED       yes after a successful NTP sync, or while no offset or drift is injected
  LAST SYNC    true time of the last successful NTP sync"""


class Command(ServiceCommand):
    help = "Show every node's clock, read at one true instant: time, offset, drift and NTP state."

    def handle(self, *args, **options):
        now = clock.reference_now()
        self.stdout.write(f"True time: {_stamp(now)}")
        header = f"{'SERVER':<12} {'NODE TIME':<27} {'OFFSET (s)':>12} {'DRIFT (ppm)':>12} {'SYNCED':<7} LAST SYNC"
        self.stdout.write(header)
        for node in node_list():
            t = node_time(node, at=now)
            self.stdout.write(
                f"{node.server_id:<12} {_stamp(t.current_time):<27} {t.offset_seconds:>+12.6f} "
                f"{node.drift_ppm:>+12g} {'yes' if node.ntp_synced else 'no':<7} {_stamp(node.last_sync)}"
            )
        self.stdout.write(LEGEND)
