"""Choice classes of the BigCommerce link: states with their groups and badge colours, and the failure reasons
with the sentence a merchant reads and the fix we suggest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _


class LinkState(models.TextChoices):
    ACTIVE = "active", _("Active")
    PAUSED = "paused", _("Paused")
    UNLINKED = "unlinked", _("Unlinked")


class LinkKind(models.TextChoices):
    API_ACCOUNT = "api_account", _("Store API account")
    APP = "app", _("Single-click app")


class OrderSyncState(models.TextChoices):
    PENDING = "pending", _("Pending")
    IMPORTED = "imported", _("Imported")
    SKIPPED = "skipped", _("Skipped")
    RETRYING = "retrying", _("Retrying")
    NEEDS_ATTENTION = "needs_attention", _("Needs attention")
    RESOLVED = "resolved", _("Resolved")

    @classmethod
    def failed_states(cls) -> tuple[str, ...]:
        """What the Failed orders page lists, and where staff may retry from."""
        return (cls.RETRYING, cls.NEEDS_ATTENTION)

    @classmethod
    def colour(cls, value: str) -> str:
        return {
            cls.PENDING: "secondary",
            cls.IMPORTED: "success",
            cls.SKIPPED: "light",
            cls.RETRYING: "warning",
            cls.NEEDS_ATTENTION: "danger",
            cls.RESOLVED: "info",
        }.get(value, "light")


class LogLevel(models.TextChoices):
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    ERROR = "error", _("Error")

    @classmethod
    def colour(cls, value: str) -> str:
        return {cls.INFO: "secondary", cls.WARNING: "warning", cls.ERROR: "danger"}.get(value, "light")


class BcItemKind(models.TextChoices):
    """How BigCommerce addresses a linked item's stock and price, learnt once from its catalog.

    A product without options is one item tracked by product (its base variant cannot be adjusted by variant id);
    a product with options is tracked per variant. `GONE`: BigCommerce no longer has the product, or the link
    names a product with options but no variant, so there is nothing to send to.
    """

    UNKNOWN = "", _("Not checked yet")
    PRODUCT = "product", _("Product without options")
    VARIANT = "variant", _("Variant")
    GONE = "gone", _("Not in BigCommerce")


class PickupStock(models.TextChoices):
    """Which outlet's stock a pickup order takes: the link's outlet (as for every online order), or the outlet
    mapped to the BigCommerce location its pickup consignment names."""

    LINKED_OUTLET = "linked_outlet", _("The linked outlet, wherever the order is collected")
    PICKUP_OUTLET = "pickup_outlet", _("The outlet mapped to the pickup location")


class DriftReason(models.TextChoices):
    """Why BigCommerce's stock level differed from the POS's when the drift read-back found it."""

    EDITED = "edited", _("Changed in BigCommerce after the POS last sent its level")
    NEVER_SENT = "never_sent", _("The POS had not sent this level to BigCommerce before")
    NOT_SENT_LATEST = "not_sent_latest", _("BigCommerce had not been sent the POS's latest level")


class ImportState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    CANCELLING = "cancelling", _("Cancelling")
    CANCELLED = "cancelled", _("Cancelled")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")

    @classmethod
    def active_states(cls) -> tuple[str, ...]:
        return (cls.QUEUED, cls.RUNNING, cls.CANCELLING)


@dataclass(frozen=True)
class Reason:
    """Why work with BigCommerce failed: a code for filters and logs, a sentence and a suggested fix for people.
    Sentences say what happened without naming the order: pages and the log put the order number before them."""

    code: str
    message: str
    fix: str
    retryable: bool  # transient: the work is retried with backoff before it needs attention

    def describe(self, detail: str = "") -> str:
        return self.message.format(detail=detail or "no detail")


class ErrorCode:
    """Every failure reason, in one place. Messages may be formatted with the order's details."""

    RATE_LIMITED = Reason(
        "rate_limited",
        "BigCommerce is rate-limiting this store's API calls.",
        "Nothing to do: the order is retried automatically once the limit resets.",
        retryable=True,
    )
    BIGCOMMERCE_ERROR = Reason(
        "bigcommerce_error",
        "BigCommerce answered with a server error ({detail}).",
        "Nothing to do unless it persists: the order is retried automatically. Check status.bigcommerce.com.",
        retryable=True,
    )
    UNREACHABLE = Reason(
        "unreachable",
        "BigCommerce could not be reached ({detail}).",
        "Nothing to do unless it persists: the order is retried automatically.",
        retryable=True,
    )
    CREDENTIALS_REJECTED = Reason(
        "credentials_rejected",
        "BigCommerce rejected the store's API token ({detail}).",
        "Create a new store API account in BigCommerce and update the token in Settings › BigCommerce.",
        retryable=False,
    )
    ORDER_NOT_FOUND = Reason(
        "order_not_found",
        "The order no longer exists in BigCommerce (deleted or archived before it could be imported).",
        "Nothing to import. Mark it resolved, or restore the order in BigCommerce and retry.",
        retryable=False,
    )
    UNKNOWN_STATUS = Reason(
        "unknown_status",
        "Its status has BigCommerce id {detail}, which this version does not know.",
        "Change the order's status in BigCommerce to a standard one and retry, or contact support.",
        retryable=False,
    )
    CURRENCY_MISMATCH = Reason(
        "currency_mismatch",
        "It is paid in {detail}, so its amounts cannot be converted to this retailer's currency.",
        "Check the order's currency and its exchange rate in BigCommerce (Settings › Currencies), then retry it; "
        "amounts are never converted without the order's own rate.",
        retryable=False,
    )
    UNPARSEABLE = Reason(
        "unparseable",
        "BigCommerce answered something unexpected: {detail}.",
        "Check the order in BigCommerce's control panel; retry after it is corrected, or contact support.",
        retryable=False,
    )
    REJECTED = Reason(
        "rejected",
        "BigCommerce refused the request ({detail}).",
        "Check the order in BigCommerce's control panel, then retry.",
        retryable=False,
    )
    VOIDED_REVIVED = Reason(
        "voided_revived",
        "It was cancelled or declined (its sale is voided), and BigCommerce now shows it as {detail}.",
        "A voided sale is never reopened. Create a new sale in the POS if the customer is going ahead, then "
        "mark this resolved.",
        retryable=False,
    )
    EDITED_AFTER_FULFILMENT = Reason(
        "edited_after_fulfilment",
        "It was edited in BigCommerce after its goods were handed over ({detail}); the sale follows the order, the "
        "fulfilment keeps what was handed over.",
        "Check with the customer whether goods must be returned or sent, then mark this resolved.",
        retryable=False,
    )
    LINK_INACTIVE = Reason(
        "link_inactive",
        "The store link is not active, so it was not synced.",
        "Relink the store in Settings › BigCommerce, then retry.",
        retryable=False,
    )
    WORKER_LOST = Reason(
        "worker_lost",
        "Its sync stopped unfinished every time it was tried (the worker stopped).",
        "Retry it; if it stops again, contact support with the order number: something in it stops the worker.",
        retryable=False,
    )
    INTERNAL = Reason(
        "internal_error",
        "It failed to sync because of an error on our side ({detail}).",
        "Retry it; if it fails again, contact support with the order number.",
        retryable=True,
    )

    @classmethod
    def for_exception(cls, exc: BaseException) -> tuple[Reason, str, timedelta | None] | None:
        """The one mapping from an error to its reason: (reason, detail, wait at least), or None for an error this
        module does not know (an error on our side: `work` retries it a few times as `internal_error`)."""
        from integration import exceptions as api

        if not isinstance(exc, api.ApiError):
            return None
        detail = exc.detail or exc.__class__.__name__
        if isinstance(exc, api.ApiRateLimited):
            return cls.RATE_LIMITED, detail, timedelta(seconds=exc.reset_seconds or 0)
        if isinstance(exc, api.ApiServerError):
            return cls.BIGCOMMERCE_ERROR, f"HTTP {exc.status}: {detail}" if exc.status else detail, None
        if isinstance(exc, api.ApiUnavailable):
            return cls.UNREACHABLE, detail, None
        if isinstance(exc, api.ApiCredentialsRejected):
            return cls.CREDENTIALS_REJECTED, detail, None
        if isinstance(exc, api.ApiNotFound):
            return cls.ORDER_NOT_FOUND, detail, None
        if isinstance(exc, api.ApiBadResponse):
            return cls.UNPARSEABLE, detail, None
        return cls.REJECTED, detail, None

    @classmethod
    def all(cls) -> list[Reason]:
        return [v for v in vars(cls).values() if isinstance(v, Reason)]

    @classmethod
    def by_code(cls, code: str) -> Reason | None:
        return next((r for r in cls.all() if r.code == code), None)
