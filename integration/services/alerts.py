"""Alerts: the daily email digest of orders that need attention, sent to each retailer's admins.

The Failed orders page and the navigation badge show the same orders to whoever is signed in; the digest reaches
admins who are not, once a day, so an order does not wait unnoticed until someone opens the dashboard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from integration.choices import OrderSyncState, Reason
from integration.models import AttentionDigest, OrderSync
from integration.selectors import code_label, reason_for
from pos.choices import Role
from pos.models import Membership, Retailer

logger = logging.getLogger("integration.alerts")

# The digest lists this many orders; the link shows them all.
DIGEST_LIMIT = 50


@dataclass(frozen=True)
class DigestLine:
    bc_order_id: int
    reason: str
    message: str
    fix: str
    url: str


def _absolute(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}"


def _line(sync: OrderSync) -> DigestLine:
    reason: Reason | None = reason_for(sync.last_error_code)
    return DigestLine(
        bc_order_id=sync.bc_order_id,
        reason=code_label(sync.last_error_code) if sync.last_error_code else "Unknown reason",
        message=sync.last_error_message,
        fix=reason.fix if reason else "",
        url=_absolute(reverse("dashboard:order_timeline", args=[sync.link_id, sync.bc_order_id])),
    )


def attention_digest_send(*, retailer: Retailer) -> int:
    """Email the retailer's admins one digest of the orders that need attention: order numbers, reasons, the
    suggested fixes and a link to the Failed orders page. At most one per local day; nothing when no order
    needs attention or no admin has an email address. Returns how many orders the digest reported."""
    failing = OrderSync.objects.for_retailer(retailer).filter(state=OrderSyncState.NEEDS_ATTENTION)
    total = failing.count()
    if not total:
        return 0
    recipients = sorted(
        set(
            Membership.objects.for_retailer(retailer)
            .filter(role=Role.ADMIN, active=True, user__is_active=True)
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )
    if not recipients:
        logger.warning("retailer %s has %s order(s) needing attention and no admin email", retailer.pk, total)
        return 0
    today = timezone.now().astimezone(ZoneInfo(retailer.time_zone)).date()
    if AttentionDigest.objects.filter(retailer=retailer, day=today).exists():
        return 0  # already sent for this local day
    lines = [_line(s) for s in failing.order_by("-updated_at", "-pk")[:DIGEST_LIMIT]]
    context = {
        "retailer": retailer,
        "total": total,
        "lines": lines,
        "more": total - len(lines),
        "failed_orders_url": _absolute(f"{reverse('dashboard:failed_orders')}?state={OrderSyncState.NEEDS_ATTENTION}"),
    }
    subject = f"{total} BigCommerce order{'s' if total != 1 else ''} need{'s' if total == 1 else ''} attention"
    message = EmailMessage(
        subject=f"{subject} · {retailer.name}",
        body=render_to_string("emails/attention_digest.txt", context),
        to=recipients,
    )
    # The day's row and the send in one transaction: a send that fails rolls the row back (the next run tries
    # again), and a second run the same day waits on the row's unique key, then finds it and sends nothing. A
    # crash between the send and the commit is the one way to send twice; never sending is the worse failure.
    with transaction.atomic():
        try:
            with transaction.atomic():
                AttentionDigest.objects.create(retailer=retailer, day=today, orders=total, recipients=len(recipients))
        except IntegrityError:
            return 0  # already sent for this local day
        message.send()
    logger.info("attention digest sent to %s admin(s) of retailer %s (%s orders)", len(recipients), retailer.pk, total)
    return total


def attention_digests_send() -> int:
    """Send each retailer with orders needing attention its digest (the daily `bc.attention_digest` work).
    Returns how many were sent; one retailer's mail failure does not cost the others their digest."""
    retailer_ids = (
        OrderSync.objects.filter(state=OrderSyncState.NEEDS_ATTENTION)
        .order_by()
        .values_list("link__retailer_id", flat=True)
        .distinct()
    )
    sent = 0
    for retailer in Retailer.objects.filter(pk__in=retailer_ids).order_by("pk"):
        try:
            sent += bool(attention_digest_send(retailer=retailer))
        except Exception:  # noqa: BLE001 - logged; the next retailer still gets its digest
            logger.exception("attention digest of retailer %s failed", retailer.pk)
    return sent
