"""The staff pages."""

from __future__ import annotations

from django.urls import path

from dashboard.views import fulfillments, overview, support

app_name = "dashboard"

urlpatterns = [
    path("", overview.OverviewView.as_view(), name="overview"),
    path("fulfillments/", fulfillments.FulfillmentListView.as_view(), name="fulfillments"),
    path("fulfillments/<int:pk>/", fulfillments.FulfillmentDetailView.as_view(), name="fulfillment_detail"),
    path(
        "fulfillments/<int:pk>/start-picking/",
        fulfillments.FulfillmentStartPickingView.as_view(),
        name="fulfillment_start_picking",
    ),
    path(
        "fulfillments/<int:pk>/quantities/",
        fulfillments.FulfillmentQuantitiesView.as_view(),
        name="fulfillment_quantities",
    ),
    path(
        "fulfillments/<int:pk>/fulfil-all/",
        fulfillments.FulfillmentFulfilAllView.as_view(),
        name="fulfillment_fulfil_all",
    ),
    path(
        "fulfillments/<int:pk>/tracking/", fulfillments.FulfillmentTrackingView.as_view(), name="fulfillment_tracking"
    ),
    path(
        "fulfillments/<int:pk>/complete/", fulfillments.FulfillmentCompleteView.as_view(), name="fulfillment_complete"
    ),
    path("fulfillments/<int:pk>/cancel/", fulfillments.FulfillmentCancelView.as_view(), name="fulfillment_cancel"),
    path(
        "fulfillments/<int:pk>/writeback-retry/",
        fulfillments.FulfillmentWritebackRetryView.as_view(),
        name="fulfillment_writeback_retry",
    ),
    path("support/", support.SupportConsoleView.as_view(), name="support"),
    path("support/retailers/<int:pk>/switch/", support.SupportSwitchView.as_view(), name="support_switch"),
]
