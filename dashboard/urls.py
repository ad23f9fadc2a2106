"""The staff pages."""

from __future__ import annotations

from django.urls import path

from dashboard.views import catalog, overview, sell, stock, support

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
    path("sell/", sell.SellView.as_view(), name="sell"),
    path("sales/<int:pk>/receipt/", sell.SaleReceiptView.as_view(), name="sale_receipt"),
    path("support/", support.SupportConsoleView.as_view(), name="support"),
    path("support/retailers/<int:pk>/switch/", support.SupportSwitchView.as_view(), name="support_switch"),
]
