"""Which retailer a request acts for, and the view mixins that make scoping the default.

A merchant's retailer comes from their membership (the first one, or the one chosen in the session when they
have several). A support user picks any retailer from the support console; every switch is written to the audit
log. Views get `request.retailer` and `request.role` and build every queryset from `for_retailer()`: the mixins
below do it for them, so another retailer's id is a 404 by construction.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import redirect
from django.utils import timezone

from pos.choices import AuditAction, Role
from pos.models import AuditEntry, Membership, Retailer

SESSION_KEY = "retailer_id"
SUPPORT_ROLE = "support"


def resolve_retailer(request: HttpRequest) -> tuple[Retailer | None, str | None]:
    """The (retailer, role) the signed-in user acts as; (None, None) when they have none."""
    user = request.user
    if not user.is_authenticated:
        return None, None
    chosen = request.session.get(SESSION_KEY)
    if user.is_support:
        if chosen:
            retailer = Retailer.objects.filter(pk=chosen).first()
            if retailer:
                return retailer, SUPPORT_ROLE
        return None, SUPPORT_ROLE
    memberships = Membership.objects.filter(user=user, active=True).select_related("retailer").order_by("id")
    if chosen:
        memberships = memberships.filter(retailer_id=chosen) or memberships
    membership = memberships.first()
    if membership is None:
        return None, None
    return membership.retailer, membership.role


class RetailerMiddleware:
    """Sets `request.retailer` and `request.role` for signed-in users (None otherwise), and makes the retailer's
    time zone current, so pages and forms show and read local times (storage stays UTC)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.retailer, request.role = resolve_retailer(request)
        if request.retailer is None:
            return self.get_response(request)
        # Pages show the retailer's local time; storage stays UTC.
        with timezone.override(ZoneInfo(request.retailer.time_zone)):
            return self.get_response(request)


def retailer_context(request: HttpRequest) -> dict:
    """Template context: the current retailer and what the user may do there."""
    role = getattr(request, "role", None)
    return {
        "current_retailer": getattr(request, "retailer", None),
        "current_role": role,
        "is_retailer_admin": role in (Role.ADMIN, SUPPORT_ROLE),
        "is_support": role == SUPPORT_ROLE,
    }


def is_admin(request: HttpRequest) -> bool:
    """Merchant admins, and support acting for a retailer, may change settings; staff may not."""
    return getattr(request, "role", None) in (Role.ADMIN, SUPPORT_ROLE)


@transaction.atomic(durable=True)
def support_switch_retailer(*, request: HttpRequest, retailer: Retailer, reason: str = "") -> None:
    """A support user starts acting for `retailer`; the switch is audited."""
    if not request.user.is_support:
        raise PermissionDenied("Only support users can switch retailers.")
    request.session[SESSION_KEY] = retailer.pk
    AuditEntry.objects.create(retailer=retailer, actor=request.user, action=AuditAction.SUPPORT_SWITCH, reason=reason)


class RetailerRequiredMixin(LoginRequiredMixin):
    """Signed in and acting for a retailer. Querysets start from `self.scoped(Model)`."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if request.retailer is None:
            if request.role == SUPPORT_ROLE:
                return redirect("dashboard:support")
            raise PermissionDenied("Your account is not a member of any retailer. Ask your admin for an invitation.")
        return super().dispatch(request, *args, **kwargs)

    def scoped(self, model):
        """`model`'s rows that belong to the current retailer."""
        return model.objects.for_retailer(self.request.retailer)

    def get_queryset(self):
        # Generic views (ListView, DetailView, UpdateView...) scope their queryset without being asked.
        queryset = super().get_queryset()
        return queryset.for_retailer(self.request.retailer)


class AdminRequiredMixin(RetailerRequiredMixin):
    """Merchant admins (and support acting for the retailer) only: staff get 403."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.retailer is not None and not is_admin(request):
            raise PermissionDenied("Only an admin of this retailer can do this.")
        return super().dispatch(request, *args, **kwargs)


class SupportRequiredMixin(LoginRequiredMixin):
    """Platform support users only."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not request.user.is_support:
            raise PermissionDenied("This page is for support staff.")
        return super().dispatch(request, *args, **kwargs)
