"""Forms of the staff pages. They parse what was posted; the rules live in the services."""

from __future__ import annotations

from django import forms

from pos.models import FulfillmentLine
from pos.services.fulfillment import FIELD_MAX_LENGTH, LineQuantities

QUANTITY_KINDS = ("picked", "packed", "fulfilled")


class FulfillmentVersionForm(forms.Form):
    """Every fulfilment action carries the version the page showed (optimistic locking)."""

    version = forms.IntegerField(
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"required": "This page is out of date. Reload it and try again."},
    )


class FulfillmentQuantitiesForm(FulfillmentVersionForm):
    """Picked, packed and fulfilled so far, one number input each per line (`picked_<line id>`...)."""

    def __init__(self, *args, lines: list[FulfillmentLine], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            for kind in QUANTITY_KINDS:
                self.fields[f"{kind}_{line.pk}"] = forms.IntegerField(
                    label=f"{kind.capitalize()} — {line.sale_line.name}",
                    error_messages={"invalid": f"Enter whole numbers for “{line.sale_line.name}”."},
                )

    def quantities(self) -> dict[int, LineQuantities]:
        return {
            line.pk: LineQuantities(*(self.cleaned_data[f"{kind}_{line.pk}"] for kind in QUANTITY_KINDS))
            for line in self.lines
        }


class FulfillmentTrackingForm(FulfillmentVersionForm):
    tracking_number = forms.CharField(max_length=FIELD_MAX_LENGTH, required=False, strip=True)
    carrier = forms.CharField(max_length=FIELD_MAX_LENGTH, required=False, strip=True)


class FulfillmentCancelForm(FulfillmentVersionForm):
    reason = forms.CharField(
        max_length=255, error_messages={"required": "Say why the fulfilment is cancelled."}, strip=True
    )
