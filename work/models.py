"""The one table of background work (see `work.kernel`)."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone


class WorkItem(models.Model):
    """One unit of background work: due, running (leased), or given up. Rows of finished work are deleted.

    `(kind, key)` names the work: requesting it again while it waits changes nothing but `requested`, so a burst
    of requests for one order is one sync. `requested` counts requests and `claimed` is the count the running
    claim took: work requested again while it runs stays due when the run ends, so no request is ever lost.
    """

    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=100)
    # The fairness unit (the retailer): work is taken shard by shard, a few workers at most per shard.
    shard = models.BigIntegerField(null=True, blank=True)
    priority = models.SmallIntegerField(default=5, help_text="Lower runs first: live orders before import pages.")
    due_at = models.DateTimeField(null=True, blank=True, help_text="When it may run; empty while it runs or gave up.")
    requested = models.PositiveIntegerField(default=1)
    claimed = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Runs since it last succeeded or was reset.")
    failed_at = models.DateTimeField(null=True, blank=True, help_text="Gave up: waits for a new request.")
    last_error_code = models.CharField(max_length=40, blank=True)
    last_error = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    # Since when this work has been waiting: its earliest request not yet taken by a run (request-to-done latency).
    requested_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="workitem_unique_kind_key")]
        indexes = [
            # What the claim reads, once it chose a shard and kind (`QueueHead`): that queue's due rows, oldest first.
            models.Index(
                F("kind"),
                Coalesce("shard", 0),
                F("due_at"),
                F("id"),
                condition=Q(lease_until__isnull=True, due_at__isnull=False),
                name="workitem_queue_idx",
            ),
            # Running work, and leases that ran out (claimable again).
            models.Index(fields=["lease_until"], condition=Q(lease_until__isnull=False), name="workitem_lease_idx"),
            models.Index(fields=["shard", "kind"], name="workitem_shard_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"

    @property
    def state(self) -> str:
        if self.failed_at is not None:
            return "failed"
        if self.lease_until is not None:
            return "running"
        return "due" if self.due_at is not None else "idle"


class QueueHead(models.Model):
    """The head of one shard's queue of one kind: when its earliest due work is due (`ready_at`) and when a worker
    last took a batch of it (`served_at`). The claim reads these, one row per store and kind with work, instead of
    every due work row (`work.kernel`).

    On PostgreSQL a trigger on `WorkItem` keeps `ready_at` at or before the earliest due row of the shard and kind,
    in the transaction that writes the row (migration 0003); the claim moves it later once it took rows. Work of no
    shard is shard 0.
    """

    kind = models.CharField(max_length=40)
    shard = models.BigIntegerField()
    priority = models.SmallIntegerField()
    ready_at = models.DateTimeField(null=True, blank=True, help_text="Its earliest due work; empty: none due.")
    served_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last took a batch of it.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "shard"], name="queuehead_unique_kind_shard")]
        indexes = [
            # The due queues: as many as stores with work due now, however long their queues.
            models.Index(fields=["kind", "ready_at"], condition=Q(ready_at__isnull=False), name="queuehead_ready_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} of shard {self.shard}"
