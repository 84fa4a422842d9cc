from django.core.management.base import CommandError, CommandParser

from core.commands import USAGE_ERROR, ServiceCommand
from core.timefmt import shown_seconds
from history.actors import Actor
from timesync import clock, consistency
from timesync.selectors import node_list
from timesync.services import consistency_mode_set


class Command(ServiceCommand):
    help = (
        "Show or switch the consistency mode every node reserves under: "
        "`consistency_mode` shows it, `consistency_mode bounded` switches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "mode", nargs="?", metavar="MODE", help=f"One of {', '.join(consistency.Mode.values)}; omit to show."
        )

    def handle(self, *args, mode, **options):
        if mode is not None:
            if mode not in consistency.Mode.values:
                raise CommandError(
                    f"Unknown consistency mode {mode!r}: use {', '.join(consistency.Mode.values)}.",
                    returncode=USAGE_ERROR,
                )
            consistency_mode_set(mode, actor=Actor.system("consistency_mode"))
            self.stdout.write(self.style.SUCCESS(f"Consistency mode: {mode} (every node, from now on)."))
        state = consistency.consistency_get()
        if mode is None:
            self.stdout.write(f"Consistency mode: {state.mode}")
        self.stdout.write(f"MAX_CLOCK_OFFSET: {state.max_clock_offset_seconds:.3f} s")
        self.stdout.write(
            f"Fence limit: {state.fence_limit_seconds:.3f} s from the median offset "
            f"({consistency.FENCE_FRACTION:.0%} of MAX_CLOCK_OFFSET; enforced in bounded mode; "
            f"CockroachDB's {consistency.COCKROACHDB_FENCE_FRACTION:.0%}: "
            f"{state.cockroachdb_fence_limit_seconds:.3f} s, shown for comparison)"
        )
        now = clock.reference_now()
        nodes = list(node_list())
        epsilons = ", ".join(
            f"{node.server_id} " + ("unbounded (never synced)" if e is None else f"{e:.4f} s")
            for node in nodes
            for e in [consistency.uncertainty(node, at=now)]
        )
        self.stdout.write(
            f"Uncertainty ε per node (commit_wait, {state.assumed_drift_ppm:g} ppm assumed drift): {epsilons}"
        )
        fences = consistency.node_fences(nodes, at=now)
        beyond = [f for f in fences.values() if f.fenced]
        if beyond:
            listed = ", ".join(f"{f.server_id} ({shown_seconds(f.deviation_seconds)} s)" for f in beyond)
            verb = "fenced" if state.mode == consistency.Mode.BOUNDED else "would be fenced in bounded mode"
            self.stdout.write(f"Beyond the limit now ({verb}): {listed}")
        else:
            self.stdout.write("Beyond the limit now: none")
