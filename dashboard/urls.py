"""The staff pages."""

from __future__ import annotations

from django.urls import path

from dashboard.views import overview, support

app_name = "dashboard"

urlpatterns = [
    path("", overview.OverviewView.as_view(), name="overview"),
    path("support/", support.SupportConsoleView.as_view(), name="support"),
    path("support/retailers/<int:pk>/switch/", support.SupportSwitchView.as_view(), name="support_switch"),
]
