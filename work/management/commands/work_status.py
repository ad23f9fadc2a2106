"""`manage.py work_status`: the background work as the database records it (the work table is the record; Redis only
rings the bell), for an operator: per kind, what is due, how long the oldest has waited, what runs and what failed;
`--failed` lists the work that gave up, with its reason."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db.models import Count, Min, Q
from django.utils import timezone

from work.models import WorkItem

FAILED_LISTED = 50


class Command(BaseCommand):
    help = "Background work per kind (due, oldest due, running, failed); --failed lists what gave up and why."

    def add_arguments(self, parser):
        parser.add_argument("--failed", action="store_true", help=f"list failed work (the {FAILED_LISTED} latest)")
        parser.add_argument("--shard", type=int, help="one retailer's work only")

    def handle(self, *args, failed: bool = False, shard: int | None = None, **options):
        now = timezone.now()
        rows = WorkItem.objects.all() if shard is None else WorkItem.objects.filter(shard=shard)
        due = Q(due_at__isnull=False, lease_until__isnull=True)
        per_kind = (
            rows.values("kind")
            .annotate(
                due=Count("id", filter=due),
                late=Count("id", filter=due & Q(due_at__lte=now)),
                oldest=Min("requested_at", filter=due & Q(due_at__lte=now)),
                running=Count("id", filter=Q(lease_until__gte=now)),
                lapsed=Count("id", filter=Q(lease_until__lt=now)),
                failed=Count("id", filter=Q(failed_at__isnull=False)),
            )
            .order_by("kind")
        )
        header = f"{'kind':<26} {'due':>7} {'due now':>8} {'waiting':>9} {'running':>8} {'lapsed':>7} {'failed':>7}"
        self.stdout.write(header)
        for row in per_kind:
            waited = f"{(now - row['oldest']).total_seconds():.0f} s" if row["oldest"] else "-"
            self.stdout.write(
                f"{row['kind']:<26} {row['due']:>7} {row['late']:>8} {waited:>9} {row['running']:>8} "
                f"{row['lapsed']:>7} {row['failed']:>7}"
            )
        if not per_kind:
            self.stdout.write("(no background work waiting)")
        if failed:
            self._failed(rows)

    def _failed(self, rows) -> None:
        self.stdout.write("")
        listed = rows.filter(failed_at__isnull=False).order_by("-failed_at")[:FAILED_LISTED]
        for item in listed:
            self.stdout.write(
                f"{item.failed_at:%Y-%m-%d %H:%M:%S} UTC  {item.kind} {item.key} (retailer {item.shard}) "
                f"after {item.attempts} attempt(s): {item.last_error_code} {item.last_error[:200]}"
            )
        if not listed:
            self.stdout.write("(no failed work)")
