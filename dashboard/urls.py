"""The staff pages."""

from __future__ import annotations

from django.urls import path

from dashboard.views import failed_orders, overview, sales, support, sync_log

app_name = "dashboard"

urlpatterns = [
    path("", overview.OverviewView.as_view(), name="overview"),
    path("sales/", sales.SalesHistoryView.as_view(), name="sales"),
    path("sales/export.csv", sales.SalesExportView.as_view(), name="sales_export"),
    path("sales/<int:pk>/", sales.SaleDetailView.as_view(), name="sale_detail"),
    path("failed-orders/", failed_orders.FailedOrdersView.as_view(), name="failed_orders"),
    path("failed-orders/retry/", failed_orders.FailedOrdersRetryView.as_view(), name="failed_orders_retry"),
    path("failed-orders/<int:pk>/", failed_orders.FailedOrderRowView.as_view(), name="failed_order_row"),
    path("failed-orders/<int:pk>/retry/", failed_orders.FailedOrderRetryView.as_view(), name="failed_order_retry"),
    path(
        "failed-orders/<int:pk>/resolve/", failed_orders.FailedOrderResolveView.as_view(), name="failed_order_resolve"
    ),
    path("sync-log/", sync_log.SyncLogView.as_view(), name="sync_log"),
    path("orders/<int:link_id>/<int:order_id>/", sync_log.OrderTimelineView.as_view(), name="order_timeline"),
    path("support/", support.SupportConsoleView.as_view(), name="support"),
    path("support/retailers/<int:pk>/switch/", support.SupportSwitchView.as_view(), name="support_switch"),
]
