"""`manage.py demo_link`: link the demo retailer to a store (the sandbox `make run` starts), so its orders arrive.

Idempotent, as `make run` calls it at every start: it links when the demo retailer was never linked, relinks when
it was unlinked, and when it is already linked to that store only makes sure the webhooks are registered at the
current PUBLIC_BASE_URL (a restarted sandbox has forgotten them). Everything goes through the link services, as
the settings page does: the credentials are checked live, online sales are booked in Downtown on the Online
register, paid as "BigCommerce". Like a shop that finished its set-up, the sandbox's payment methods are mapped to
the demo's payment types and its two inventory locations follow Downtown and Warehouse (what an admin changed
on the settings page is kept).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from integration.models import OutletLocation, StoreLink
from integration.services.link import (
    LinkError,
    active_link,
    hooks_check,
    outlet_locations_map,
    payment_methods_map_by_name,
    store_credentials_check,
    store_link_create,
    store_locations,
)
from pos.models import Outlet, PaymentType, Register, Retailer, User
from pos.services.demo import DEMO_SLUG

DEMO_OUTLET, DEMO_REGISTER, DEMO_ADMIN = "Downtown", "Online", "demo-admin"
# The sandbox store's payment methods (as its orders name them) and the demo's payment types they are booked as.
DEMO_PAYMENT_METHODS = {
    "Credit Card": "Credit card",
    "Test Payment Gateway": "Credit card",
    "PayPal": "PayPal",
    "Cash on Delivery": "Cash",
    "Bank Deposit": "Bank transfer",
    "Store Credit": "Store credit",
    "Manual": "BigCommerce",
}
# Outlet -> the sandbox's inventory location that follows its stock (1 is the store's default location).
DEMO_LOCATIONS = {"Downtown": 1, "Warehouse": 2}


class Command(BaseCommand):
    help = "Link the demo retailer to a BigCommerce (sandbox) store; safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--api-url", required=True, help="the store's API base URL, e.g. http://127.0.0.1:8100")
        parser.add_argument("--store-hash", required=True)
        parser.add_argument("--token", required=True, help="a store-level API account's access token")
        parser.add_argument(
            "--confirm-different-store",
            action="store_true",
            help="link even if the demo retailer has mappings from another store (they are archived)",
        )

    def handle(self, *args, **options):
        retailer = Retailer.objects.filter(slug=DEMO_SLUG).first()
        if retailer is None:
            raise CommandError("No demo retailer: run `manage.py demo_seed` first.")
        link = active_link(retailer)
        if link is not None and link.store_hash == options["store_hash"]:
            fixed = hooks_check(link=link)
            self._set_up(link)
            self.stdout.write(f"Demo retailer already linked to {link.store_name}; {fixed} webhook(s) re-registered.")
            return
        if link is not None:
            raise CommandError(f"The demo retailer is linked to another store ({link.store_hash}); unlink it first.")
        register = Register.objects.select_related("outlet").get(
            retailer=retailer, outlet__name=DEMO_OUTLET, name=DEMO_REGISTER
        )
        try:
            check = store_credentials_check(
                store_hash=options["store_hash"], access_token=options["token"], api_url=options["api_url"]
            )
            link = store_link_create(
                retailer=retailer,
                check=check,
                access_token=options["token"],
                outlet=register.outlet,
                register=register,
                default_payment_type=None,
                acting_user=User.objects.filter(username=DEMO_ADMIN).first(),
                confirm_different_store=options["confirm_different_store"],
            )
        except LinkError as error:
            raise CommandError(error.message) from None
        link.refresh_from_db(fields=["hooks"])
        self._set_up(link)
        self.stdout.write(
            self.style.SUCCESS(f"Demo retailer linked to {link.store_name} ({len(link.hooks)} webhooks registered).")
        )

    def _set_up(self, link: StoreLink) -> None:
        """Payment methods mapped and locations followed, as an admin would set them up after linking."""
        admin = User.objects.filter(username=DEMO_ADMIN).first()
        types = {t.name: t for t in PaymentType.objects.for_retailer(link.retailer)}
        mapping = {method: types[name] for method, name in DEMO_PAYMENT_METHODS.items() if name in types}
        payment_methods_map_by_name(link=link, mapping=mapping, acting_user=admin)
        if OutletLocation.objects.filter(link=link).exists():
            return
        outlets = {o.name: o.pk for o in Outlet.objects.for_retailer(link.retailer).filter(name__in=DEMO_LOCATIONS)}
        try:
            locations = store_locations(link=link)
            wanted = {outlets[name]: location for name, location in DEMO_LOCATIONS.items() if name in outlets}
            known = {location.id for location in locations}
            wanted = {outlet: location for outlet, location in wanted.items() if location in known}
            outlet_locations_map(link=link, mapping=wanted, locations=locations, acting_user=admin)
        except LinkError as error:
            self.stderr.write(f"Locations not mapped ({error.message}); map them in Settings › BigCommerce.")
