"""Who bought: a BigCommerce customer id known through a CustomerLink, else a POS customer with the same
normalised email, else a new customer made from the billing address. Guests (customer id 0) are matched by email
too. An existing POS customer's details are never overwritten by an order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from integration.models import CustomerLink, StoreLink
from integration.services.catalog_resolve import LOCK_CUSTOMER_CREATE, advisory_xact_lock
from pos.db import new_row
from pos.models import Customer


@dataclass(frozen=True)
class CustomerRef:
    """The buyer as an order describes them."""

    bc_customer_id: int  # 0 for a guest
    email: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    phone: str = ""
    address: dict = field(default_factory=dict)

    @property
    def email_normalized(self) -> str:
        return Customer.normalize_email(self.email)

    @property
    def is_identifiable(self) -> bool:
        return bool(self.bc_customer_id or self.email_normalized or self.first_name or self.last_name)


@dataclass
class CustomerMatch:
    customer: Customer
    how: str  # "linked", "email", "created"


def customers_resolve(*, link: StoreLink, refs: Sequence[CustomerRef]) -> list[CustomerMatch | None]:
    """One match per ref (None for an anonymous guest without email or name), in a fixed number of queries."""
    results: list[CustomerMatch | None] = [None] * len(refs)
    by_bc_id = _linked(link, refs)
    for i, ref in enumerate(refs):
        if ref.bc_customer_id and ref.bc_customer_id in by_bc_id:
            results[i] = CustomerMatch(by_bc_id[ref.bc_customer_id], "linked")
    todo = [i for i, ref in enumerate(refs) if results[i] is None and refs[i].is_identifiable]
    if not todo:
        return results
    _match_emails(link, refs, todo, results)
    todo = [i for i in todo if results[i] is None]
    if todo:
        advisory_xact_lock(LOCK_CUSTOMER_CREATE, link.retailer_id)
        _match_emails(link, refs, todo, results)  # created by another worker while we waited
        _create(link, refs, [i for i in todo if results[i] is None], results)
    new_links = {
        refs[i].bc_customer_id: CustomerLink(link=link, customer=m.customer, bc_customer_id=refs[i].bc_customer_id)
        for i, m in enumerate(results)
        if m is not None and m.how != "linked" and refs[i].bc_customer_id
    }
    CustomerLink.objects.bulk_create(list(new_links.values()), ignore_conflicts=True)
    return results


def _linked(link: StoreLink, refs: Sequence[CustomerRef]) -> dict[int, Customer]:
    ids = {r.bc_customer_id for r in refs if r.bc_customer_id}
    if not ids:
        return {}
    rows = CustomerLink.objects.filter(link=link, bc_customer_id__in=ids).select_related("customer")
    return {cl.bc_customer_id: cl.customer for cl in rows}


def _match_emails(link: StoreLink, refs: Sequence[CustomerRef], todo: list[int], results: list) -> None:
    emails = {refs[i].email_normalized for i in todo if refs[i].email_normalized}
    if not emails:
        return
    oldest: dict[str, Customer] = {}
    for customer in Customer.objects.filter(retailer_id=link.retailer_id, email_normalized__in=emails).order_by("id"):
        oldest.setdefault(customer.email_normalized, customer)
    for i in todo:
        if (customer := oldest.get(refs[i].email_normalized)) is not None:
            results[i] = CustomerMatch(customer, "email")


def _create(link: StoreLink, refs: Sequence[CustomerRef], todo: list[int], results: list) -> None:
    # Two orders of one new buyer in the same batch make one customer.
    new: dict[str, Customer] = {}
    order: list[tuple[int, str]] = []
    for i in todo:
        ref = refs[i]
        key = ref.email_normalized or (f"bc:{ref.bc_customer_id}" if ref.bc_customer_id else f"anon:{i}")
        if key not in new:
            new[key] = new_row(
                Customer,
                retailer_id=link.retailer_id,
                first_name=ref.first_name[:150],
                last_name=ref.last_name[:150],
                company=ref.company[:200],
                email=ref.email.strip()[:254],
                email_normalized=ref.email_normalized[:254],
                phone=ref.phone[:50],
                address=ref.address,
                created_by_link=True,
            )
        order.append((i, key))
    Customer.objects.bulk_create(list(new.values()))
    for i, key in order:
        results[i] = CustomerMatch(new[key], "created")
