"""The staff pages."""

from __future__ import annotations

from django.urls import path

from dashboard.views import (
    catalog,
    failed_orders,
    fulfillments,
    historical_import,
    overview,
    people,
    sales,
    sell,
    settings,
    shop,
    stock,
    support,
    sync_log,
)

app_name = "dashboard"

urlpatterns = [
    path("", overview.OverviewView.as_view(), name="overview"),
    path("catalog/", catalog.CatalogView.as_view(), name="catalog"),
    path("catalog/new/", catalog.ProductCreateView.as_view(), name="product_create"),
    path("catalog/review/", catalog.ProductReviewView.as_view(), name="product_review"),
    path("catalog/<int:pk>/", catalog.ProductDetailView.as_view(), name="product_detail"),
    path("catalog/<int:pk>/edit/", catalog.ProductEditView.as_view(), name="product_edit"),
    path("catalog/<int:pk>/accept/", catalog.ProductAcceptView.as_view(), name="product_accept"),
    path("catalog/<int:pk>/merge/", catalog.ProductMergeView.as_view(), name="product_merge"),
    path("stock/", stock.StockView.as_view(), name="stock"),
    path("stock/adjust/", stock.StockAdjustView.as_view(), name="stock_adjust"),
    path("stock/count/", stock.StockCountView.as_view(), name="stock_count"),
    path("stock/drift/", stock.StockDriftView.as_view(), name="stock_drift"),
    path("sell/", sell.SellView.as_view(), name="sell"),
    path("sales/<int:pk>/receipt/", sell.SaleReceiptView.as_view(), name="sale_receipt"),
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
    path("fulfillments/<int:pk>/ship/", fulfillments.FulfillmentShipView.as_view(), name="fulfillment_ship"),
    path(
        "fulfillments/<int:pk>/shipment-retry/",
        fulfillments.FulfillmentShipmentRetryView.as_view(),
        name="fulfillment_shipment_retry",
    ),
    path("fulfillments/<int:pk>/cancel/", fulfillments.FulfillmentCancelView.as_view(), name="fulfillment_cancel"),
    path(
        "fulfillments/<int:pk>/writeback-retry/",
        fulfillments.FulfillmentWritebackRetryView.as_view(),
        name="fulfillment_writeback_retry",
    ),
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
    path("settings/", settings.SettingsView.as_view(), name="settings"),
    path("settings/fulfilment/", settings.FulfillmentSettingsView.as_view(), name="settings_fulfillment"),
    path("settings/shop/", settings.RetailerSettingsView.as_view(), name="settings_retailer"),
    path("settings/outlets/", shop.OutletsView.as_view(), name="settings_outlets"),
    path("settings/outlets/new/", shop.OutletCreateView.as_view(), name="settings_outlet_create"),
    path("settings/outlets/<int:pk>/", shop.OutletEditView.as_view(), name="settings_outlet_edit"),
    path("settings/registers/new/", shop.RegisterCreateView.as_view(), name="settings_register_create"),
    path("settings/registers/<int:pk>/", shop.RegisterEditView.as_view(), name="settings_register_edit"),
    path("settings/payment-types/", shop.PaymentTypesView.as_view(), name="settings_payment_types"),
    path("settings/payment-types/new/", shop.PaymentTypeCreateView.as_view(), name="settings_payment_type_create"),
    path("settings/payment-types/<int:pk>/", shop.PaymentTypeEditView.as_view(), name="settings_payment_type_edit"),
    path("settings/people/", people.PeopleView.as_view(), name="settings_people"),
    path("settings/people/new/", people.PersonAddView.as_view(), name="settings_person_add"),
    path("settings/people/<int:pk>/", people.PersonView.as_view(), name="settings_person"),
    path("settings/people/<int:pk>/active/", people.PersonActiveView.as_view(), name="settings_person_active"),
    path(
        "settings/people/<int:pk>/password-email/",
        people.PersonPasswordEmailView.as_view(),
        name="settings_person_password_email",
    ),
    path("settings/bigcommerce/", settings.BigCommerceSettingsView.as_view(), name="settings_bigcommerce"),
    path("settings/bigcommerce/link/", settings.BigCommerceLinkView.as_view(), name="settings_bigcommerce_link"),
    path("settings/bigcommerce/sales/", settings.BigCommerceUpdateView.as_view(), name="settings_bigcommerce_update"),
    path(
        "settings/bigcommerce/payment-methods/",
        settings.BigCommercePaymentMethodsView.as_view(),
        name="settings_bigcommerce_payment_methods",
    ),
    path(
        "settings/bigcommerce/locations/",
        settings.BigCommerceLocationsView.as_view(),
        name="settings_bigcommerce_locations",
    ),
    path("settings/bigcommerce/webhooks/", settings.BigCommerceHooksView.as_view(), name="settings_bigcommerce_hooks"),
    path("settings/bigcommerce/unlink/", settings.BigCommerceUnlinkView.as_view(), name="settings_bigcommerce_unlink"),
    path("settings/bigcommerce/claim/", settings.AppInstallClaimView.as_view(), name="settings_bigcommerce_claim"),
    path("settings/bigcommerce/import/", historical_import.HistoricalImportView.as_view(), name="historical_import"),
    path(
        "settings/bigcommerce/import/preview/",
        historical_import.HistoricalImportPreviewView.as_view(),
        name="historical_import_preview",
    ),
    path(
        "settings/bigcommerce/import/start/",
        historical_import.HistoricalImportStartView.as_view(),
        name="historical_import_start",
    ),
    path(
        "settings/bigcommerce/import/<int:pk>/cancel/",
        historical_import.HistoricalImportCancelView.as_view(),
        name="historical_import_cancel",
    ),
    path(
        "settings/bigcommerce/import/<int:pk>/progress/",
        historical_import.HistoricalImportProgressView.as_view(),
        name="historical_import_progress",
    ),
    path("support/", support.SupportConsoleView.as_view(), name="support"),
    path(
        "support/retailers/<int:pk>/historical-import/",
        support.SupportHistoricalImportView.as_view(),
        name="support_historical_import",
    ),
    path("support/retailers/<int:pk>/switch/", support.SupportSwitchView.as_view(), name="support_switch"),
    path("support/retailers/<int:pk>/move-store/", support.SupportStoreMoveView.as_view(), name="support_store_move"),
]
