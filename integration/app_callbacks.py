"""The single-click app's callbacks: `/bigcommerce/auth`, `/bigcommerce/load`, `/bigcommerce/uninstall`.

Public (BigCommerce calls them without our session), GET only, and each one verified before it does anything:
auth by exchanging the code at BigCommerce's login host, load and uninstall by the `signed_payload_jwt`. Auth
and load answer pages for the control panel's iframe, so they may be framed by BigCommerce (and only by it).
No business rule here: see `integration.services.app_install`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET

from integration.models import AppInstall
from integration.services.app_install import (
    AppAuthError,
    app_claim_token,
    app_install_record,
    app_install_uninstall,
    app_payload_verify,
)
from integration.services.link import link_status

logger = logging.getLogger("integration.app")

TEMPLATE = "bigcommerce/app.html"
# BigCommerce's control panel shows app pages in an iframe from these origins.
CONTROL_PANEL_ORIGINS = ["https://*.bigcommerce.com", "https://*.mybigcommerce.com"]
in_control_panel = csp_override({**settings.SECURE_CSP, "frame-ancestors": CONTROL_PANEL_ORIGINS})


def _refused(request: HttpRequest, error: AppAuthError) -> HttpResponse:
    # The reason code only: never the code, the JWT or a token.
    logger.warning("app callback %s refused: %s (HTTP %s)", request.path, error.reason, error.status)
    return render(request, TEMPLATE, {"error": error.message}, status=error.status)


def _install_page(request: HttpRequest, install: AppInstall) -> HttpResponse:
    link = install.claimed_link
    context = {"install": install, "link": link, "status": link_status(link) if link else None}
    if link is None:
        query = urlencode({"token": app_claim_token(install=install)})
        context["claim_url"] = f"{reverse('dashboard:settings_bigcommerce_claim')}?{query}"
    return render(request, TEMPLATE, context)


@require_GET
@xframe_options_exempt
@in_control_panel
def app_auth(request: HttpRequest) -> HttpResponse:
    """BigCommerce's auth callback: record the install, then show how to link it to a retailer."""
    try:
        install = app_install_record(
            code=request.GET.get("code", ""),
            scope=request.GET.get("scope", ""),
            context=request.GET.get("context", ""),
        )
    except AppAuthError as error:
        return _refused(request, error)
    return _install_page(request, install)


@require_GET
@xframe_options_exempt
@in_control_panel
def app_load(request: HttpRequest) -> HttpResponse:
    """A user opened the app in the control panel: the link's status, or the button to claim the install."""
    try:
        install = app_payload_verify(signed_payload_jwt=request.GET.get("signed_payload_jwt", ""))
    except AppAuthError as error:
        return _refused(request, error)
    if not install.is_installed:
        return _refused(
            request, AppAuthError("The app was uninstalled from this store. Install it again.", reason="uninstalled")
        )
    return _install_page(request, install)


@require_GET
def app_uninstall(request: HttpRequest) -> HttpResponse:
    """BigCommerce's uninstall callback (server to server): the link stops; sales, mappings and logs stay."""
    try:
        install = app_payload_verify(signed_payload_jwt=request.GET.get("signed_payload_jwt", ""))
    except AppAuthError as error:
        logger.warning("app uninstall refused: %s (HTTP %s)", error.reason, error.status)
        return HttpResponse(error.message, status=error.status, content_type="text/plain")
    app_install_uninstall(install=install)
    return HttpResponse("uninstalled", content_type="text/plain")
