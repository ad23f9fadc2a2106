"""Sale services: the one writer of sales (every channel), invoice numbers, and the in-store sale at a register.

`sales_write` is where a sale's rules live: invoice numbers, amounts paid and refunded, the payment state, voiding,
line edits and the stock each line moves through the ledger. The register (`sale_create_in_store`) and the
BigCommerce link (one order, or a page of 250 of a historical import) both describe the sales they want as
`SaleSpec`s and call it; it writes any number of sales in a fixed number of statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from pos.choices import Channel, MovementReason, PaymentKind, PaymentState, SaleStatus
from pos.db import bulk_update_rows, inserter, new_row
from pos.models import (
    Customer,
    InventoryMovement,
    PaymentType,
    Product,
    Register,
    Retailer,
    Sale,
    SaleLine,
    SalePayment,
    User,
)
from pos.services.stock import StockMove, stock_move_many


def invoice_numbers_allocate(*, retailer_id: int, count: int = 1) -> range:
    """Hand out the next `count` invoice numbers of a retailer, sequential and never duplicated.

    Call it inside the transaction that creates the sales: the retailer row stays locked until that transaction
    ends, so concurrent callers queue for it and a rolled-back sale gives its number back (no gaps).
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    table = connection.ops.quote_name(Retailer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_invoice_number = last_invoice_number + %s WHERE id = %s "
            f"RETURNING last_invoice_number",
            [count, retailer_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Retailer.DoesNotExist(f"Retailer {retailer_id} does not exist")
    last = row[0]
    return range(last - count + 1, last + 1)


@dataclass(frozen=True)
class InStoreLine:
    """A product and how many of it the customer takes."""

    product_id: int
    quantity: int


@dataclass(frozen=True)
class InStorePayment:
    """Money taken for the sale with one payment type."""

    payment_type_id: int
    amount: Decimal


SALE_EMPTY = "Add at least one product to the sale."
SALE_QUANTITY = "Quantities must be whole numbers of at least 1 (“%(name)s”: %(quantity)s)."
SALE_INACTIVE = "“%(name)s” is inactive and cannot be sold. An admin can reactivate it in the catalog."
SALE_UNKNOWN_PRODUCT = "A product in the sale is not in this retailer's catalog."
SALE_UNKNOWN_PAYMENT = "Choose one of this retailer's active payment types."
SALE_PAYMENT_AMOUNT = "Payment amounts must be more than zero."
SALE_OVERPAID = (
    "The payments (%(paid)s) are more than the sale total (%(total)s). Enter the amount kept, not the cash handed "
    "over: give the difference back as change."
)
SALE_CUSTOMER = "The customer belongs to another retailer."
SALE_REGISTER_INACTIVE = (
    "The register “%(name)s” (or its outlet) is inactive and cannot sell. Choose another register, or ask an admin "
    "to reactivate it in Settings › Outlets and registers."
)
FOUR_PLACES = Decimal("0.0001")


def payment_state_for(
    *, total: Decimal, paid: Decimal, refunded: Decimal = Decimal("0"), authorised: Decimal = Decimal("0")
) -> str:
    """A sale's payment state from its total, the payments received, the refunds given back and the payments
    authorised but not captured yet (the customer's money is held for the sale: nothing is owed by them)."""
    if refunded > 0:
        return PaymentState.REFUNDED if refunded >= paid else PaymentState.PARTIALLY_REFUNDED
    if paid >= total:
        return PaymentState.PAID
    if authorised > 0 and paid + authorised >= total:
        return PaymentState.AUTHORISED
    return PaymentState.UNPAID if paid <= 0 else PaymentState.PARTIALLY_PAID


@transaction.atomic
def sale_create_in_store(
    *,
    register: Register,
    lines: Sequence[InStoreLine],
    payments: Sequence[InStorePayment],
    user: User | None,
    customer: Customer | None = None,
) -> Sale:
    """Ring up a sale at a register: a closed in-store sale with its lines and payments, stock out of the outlet.

    Prices: there is no tax model yet, so each line's unit price is the product's retail price, taken as
    tax-inclusive, and tax is 0 (ex-tax equals inc-tax). The sale is written by `sales_write` (tracked products
    leave the register's outlet through the ledger, exactly once). The payment state follows the payments (less
    than the total leaves a balance owing); paying more than the total is refused. In-store sales are never sent to
    BigCommerce: nothing here enqueues anything.
    """
    retailer_id = register.retailer_id
    if not lines:
        raise ValidationError(SALE_EMPTY)
    if not Register.objects.filter(pk=register.pk, active=True, outlet__active=True).exists():
        raise ValidationError(SALE_REGISTER_INACTIVE % {"name": register.name})
    if customer is not None and customer.retailer_id != retailer_id:
        raise ValidationError(SALE_CUSTOMER)
    products = {p.pk: p for p in Product.objects.for_retailer(retailer_id).filter(pk__in=[x.product_id for x in lines])}
    payment_types = {
        t.pk: t
        for t in PaymentType.objects.for_retailer(retailer_id).filter(
            pk__in=[x.payment_type_id for x in payments], active=True
        )
    }
    errors = []
    for line in lines:
        product = products.get(line.product_id)
        if product is None:
            errors.append(SALE_UNKNOWN_PRODUCT)
            continue
        if not isinstance(line.quantity, int) or line.quantity < 1:
            errors.append(SALE_QUANTITY % {"name": product.name, "quantity": line.quantity})
        if not product.active:
            errors.append(SALE_INACTIVE % {"name": product.name})
    if any(p.payment_type_id not in payment_types for p in payments):
        errors.append(SALE_UNKNOWN_PAYMENT)
    if any(p.amount <= 0 for p in payments):
        errors.append(SALE_PAYMENT_AMOUNT)
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))

    sale_lines = []
    for position, line in enumerate(lines, start=1):
        product = products[line.product_id]
        line_total = (product.retail_price * line.quantity).quantize(FOUR_PLACES)
        sale_lines.append(
            LineSpec(
                key=str(position),
                product=product,
                name=product.name,
                sku=product.sku or "",
                quantity=line.quantity,
                unit_price_ex_tax=product.retail_price,
                unit_price_inc_tax=product.retail_price,
                total_ex_tax=line_total,
                total_tax=Decimal("0"),
                total_inc_tax=line_total,
            )
        )
    total = sum((x.total_inc_tax for x in sale_lines), Decimal("0"))
    paid = sum((p.amount for p in payments), Decimal("0")).quantize(FOUR_PLACES)
    if paid > total:
        raise ValidationError(SALE_OVERPAID % {"paid": f"{paid:.2f}", "total": f"{total:.2f}"})

    retailer = Retailer.objects.only("currency").get(pk=retailer_id)
    spec = SaleSpec(
        outlet_id=register.outlet_id,
        register_id=register.pk,
        channel=Channel.IN_STORE,
        currency=retailer.currency,
        customer=customer,
        user=user,
        lines=sale_lines,
        payments=[
            PaymentSpec(payment_type=payment_types[p.payment_type_id], amount=p.amount.quantize(FOUR_PLACES))
            for p in payments
        ],
    )
    return sales_write(retailer_id=retailer_id, specs=[spec])[0].sale


# ---------------------------------------------------------------- the one writer of sales


@dataclass(frozen=True)
class LineSpec:
    """A sale line as its channel describes it now. `key` names the line within its sale (BigCommerce's
    order-product id, a charge's name, an in-store position) and keys its stock movements in the ledger."""

    key: str
    product: Product
    name: str
    quantity: int
    unit_price_ex_tax: Decimal
    unit_price_inc_tax: Decimal
    total_ex_tax: Decimal
    total_tax: Decimal
    total_inc_tax: Decimal
    sku: str = ""
    discount: Decimal = Decimal("0")


@dataclass(frozen=True)
class PaymentSpec:
    """Money in (a payment, positive) or out (a refund, given as a negative amount) for a sale. A payment with an
    external id is recorded once per (kind, id) and follows the channel's amount afterwards."""

    payment_type: PaymentType
    amount: Decimal
    kind: str = PaymentKind.PAYMENT
    paid_at: datetime | None = None
    method_label: str = ""
    external_id: str = ""


@dataclass(frozen=True)
class ReturnSpec:
    """Units of a line that came back (a refund naming items) and go back into stock. `key` names the return
    (e.g. the refund and its item) so it moves stock exactly once, however often it is written."""

    key: str
    line_key: str
    quantity: int


@dataclass(frozen=True)
class Totals:
    ex_tax: Decimal
    tax: Decimal
    inc_tax: Decimal
    discount: Decimal = Decimal("0")


@dataclass(frozen=True)
class OriginalAmounts:
    """A sale made in another currency than the retailer's: that currency, the rate used (units of it per unit of
    the retailer's currency) and the sale's totals as they were in it. The sale's own amounts are the converted
    ones."""

    currency: str
    rate: Decimal
    totals: Totals


@dataclass
class SaleSpec:
    """The sale a channel wants: a new one (`sale` None) or what an existing one must become.

    Totals default to the sum of the lines. Payments are the ones the channel knows of; a payment recorded earlier
    and not listed is kept (nothing is ever deleted). With `moves_stock`, each tracked line's movements net to
    minus its quantity for a closed sale and to zero for a voided one, measured against the ledger, so replays,
    edits and a void each move exactly the difference once; ledger keys start with `source_prefix` (default
    `pos:sale:<sale id>`). `returns` put units of a closed sale's lines back into stock, once each; a void later
    returns only what is still out."""

    outlet_id: int
    register_id: int
    lines: Sequence[LineSpec]
    payments: Sequence[PaymentSpec] = ()
    returns: Sequence[ReturnSpec] = ()
    sale: Sale | None = None
    channel: str = Channel.IN_STORE
    currency: str = "USD"
    status: str = SaleStatus.CLOSED
    void_reason: str = ""
    totals: Totals | None = None
    original: OriginalAmounts | None = None
    customer: Customer | None = None
    user: User | None = None
    external_order_id: str = ""
    sale_date: datetime | None = None
    bc_status_id: int | None = None
    bc_status_label: str = ""
    customer_note: str = ""
    staff_note: str = ""
    moves_stock: bool = True
    source_prefix: str = ""
    stock_note: str = ""


@dataclass
class SaleWritten:
    """What `sales_write` did to one sale, for the caller's log."""

    sale: Sale
    created: bool
    voided_now: bool = False
    previous_bc_status_id: int | None = None
    line_changes: list[str] = field(default_factory=list)  # "added 2 x Tee", "Tee: 1 → 2", "removed Tee"
    new_payments: list[SalePayment] = field(default_factory=list)
    new_lines: list[SaleLine] = field(default_factory=list)  # for a new sale: all its lines, products loaded
    returned: list[str] = field(default_factory=list)  # "2 × Tee" per return that moved stock now

    @property
    def new_refunds(self) -> Decimal:
        return -sum((p.amount for p in self.new_payments if p.kind == PaymentKind.REFUND), Decimal("0"))


SALE_FIELDS = (
    "status",
    "payment_state",
    "bc_status_id",
    "bc_status_label",
    "total_ex_tax",
    "total_tax",
    "total_inc_tax",
    "discount_total",
    "original_currency",
    "exchange_rate",
    "original_total_ex_tax",
    "original_total_tax",
    "original_total_inc_tax",
    "original_discount_total",
    "amount_paid",
    "amount_refunded",
    "customer_note",
    "voided_at",
    "void_reason",
    "updated_at",
)
LINE_FIELDS = (
    "product_id",
    "position",
    "name",
    "sku",
    "quantity",
    "unit_price_ex_tax",
    "unit_price_inc_tax",
    "discount",
    "total_ex_tax",
    "total_tax",
    "total_inc_tax",
)
# The movements a sale's lines make; others on the sale (such as refunded items returned) are not the line's net.
LINE_MOVEMENT_REASONS = (MovementReason.SALE, MovementReason.EDIT, MovementReason.VOID)


def sales_write(
    *, retailer_id: int, specs: Sequence[SaleSpec], now: datetime | None = None, as_set: bool = False
) -> list[SaleWritten]:
    """Create or update these sales with their lines, payments and stock, in a fixed number of statements whatever
    their number (see SaleSpec). Returns one SaleWritten per spec, in order.

    `as_set`, the batch form for big batches (a historical import's page): new rows go in as sets
    (`pos.db.insert_rows`: ids from the sequences up front, then `COPY`; nothing is read back), at two statements
    per table instead of one, which a live sync of a few orders does not gain from."""
    now = now or timezone.now()
    insert = inserter(as_set=as_set)
    with transaction.atomic():
        created = [s for s in specs if s.sale is None]
        numbers = iter(invoice_numbers_allocate(retailer_id=retailer_id, count=len(created)) if created else ())
        results = []
        for spec in specs:
            if spec.sale is None:
                spec.sale = new_row(
                    Sale,
                    retailer_id=retailer_id,
                    outlet_id=spec.outlet_id,
                    register_id=spec.register_id,
                    customer=spec.customer,
                    user=spec.user,
                    channel=spec.channel,
                    external_order_id=spec.external_order_id,
                    invoice_number=next(numbers),
                    sale_date=spec.sale_date or now,
                    currency=spec.currency[:3],
                    staff_note=spec.staff_note[:10000],
                    stock_moved=spec.moves_stock,
                    created_at=now,
                )
                results.append(SaleWritten(spec.sale, created=True))
            else:
                results.append(SaleWritten(spec.sale, created=False, previous_bc_status_id=spec.sale.bc_status_id))
            _set_header(spec, results[-1], now)
        new_payments, changed_payments = _payments(specs, results)
        insert(Sale, [r.sale for r in results if r.created])
        insert(SalePayment, new_payments)
        bulk_update_rows(SalePayment, changed_payments, ["amount"])
        _lines(specs, results, insert)
        _stock(retailer_id, specs, results)
        bulk_update_rows(Sale, [r.sale for r in results if not r.created], SALE_FIELDS)
    return results


def _set_header(spec: SaleSpec, result: SaleWritten, now: datetime) -> None:
    sale = spec.sale
    voided = spec.status == SaleStatus.VOIDED
    if voided and sale.status != SaleStatus.VOIDED:
        sale.voided_at = now
        sale.void_reason = spec.void_reason[:255]
        result.voided_now = not result.created
    totals = spec.totals or Totals(
        ex_tax=sum((x.total_ex_tax for x in spec.lines), Decimal("0")),
        tax=sum((x.total_tax for x in spec.lines), Decimal("0")),
        inc_tax=sum((x.total_inc_tax for x in spec.lines), Decimal("0")),
        discount=sum((x.discount for x in spec.lines), Decimal("0")),
    )
    sale.status = spec.status
    sale.bc_status_id = spec.bc_status_id
    sale.bc_status_label = spec.bc_status_label[:100]
    sale.total_ex_tax, sale.total_tax, sale.total_inc_tax = totals.ex_tax, totals.tax, totals.inc_tax
    sale.discount_total = totals.discount
    original = spec.original
    sale.original_currency = original.currency[:3] if original else ""
    sale.exchange_rate = original.rate if original else None
    sale.original_total_ex_tax, sale.original_total_tax, sale.original_total_inc_tax, sale.original_discount_total = (
        (original.totals.ex_tax, original.totals.tax, original.totals.inc_tax, original.totals.discount)
        if original
        else (None, None, None, None)
    )
    sale.customer_note = spec.customer_note
    sale.updated_at = now


def _payments(specs: Sequence[SaleSpec], results: list[SaleWritten]) -> tuple[list[SalePayment], list[SalePayment]]:
    """Record the payments not recorded yet, follow changed amounts, then set each sale's paid and refunded
    amounts and its payment state. Returns (payments to create, payments whose amount changed)."""
    existing: dict[int, dict[tuple[str, str], SalePayment]] = defaultdict(dict)
    known: dict[int, list[SalePayment]] = defaultdict(list)
    updated = [r.sale.pk for r in results if not r.created]
    if updated:
        for payment in SalePayment.objects.filter(sale_id__in=updated):
            known[payment.sale_id].append(payment)
            if payment.external_id:
                existing[payment.sale_id][(payment.kind, payment.external_id)] = payment
    to_create, to_update = [], []
    for spec, result in zip(specs, results, strict=True):
        sale = result.sale
        current = existing[sale.pk] if not result.created else {}
        payments = known[sale.pk] if not result.created else []
        for want in spec.payments:
            old = current.get((want.kind, want.external_id)) if want.external_id else None
            if old is None:
                payment = new_row(
                    SalePayment,
                    sale=sale,
                    payment_type=want.payment_type,
                    kind=want.kind,
                    amount=want.amount,
                    paid_at=want.paid_at or sale.sale_date,
                    method_label=want.method_label[:100],
                    external_id=want.external_id,
                )
                to_create.append(payment)
                result.new_payments.append(payment)
                payments.append(payment)
                if want.external_id:
                    current[(want.kind, want.external_id)] = payment
            elif old.amount != want.amount:
                old.amount = want.amount
                to_update.append(old)
        paid = sum((p.amount for p in payments if p.kind == PaymentKind.PAYMENT), Decimal("0"))
        refunded = -sum((p.amount for p in payments if p.kind == PaymentKind.REFUND), Decimal("0"))
        authorised = sum((p.amount for p in payments if p.kind == PaymentKind.AUTHORISATION), Decimal("0"))
        sale.amount_paid, sale.amount_refunded = paid, refunded
        sale.payment_state = payment_state_for(
            total=sale.total_inc_tax, paid=paid, refunded=refunded, authorised=authorised
        )
    return to_create, to_update


def _lines(specs: Sequence[SaleSpec], results: list[SaleWritten], insert) -> None:
    """New lines are added; changed lines updated; lines gone from the spec are kept at quantity 0 (the sale's
    history and any fulfilment progress stay readable). Each change of an existing sale is described."""
    existing: dict[int, dict[str, SaleLine]] = defaultdict(dict)
    updated = [r.sale for r in results if not r.created]
    if updated:
        for line in SaleLine.objects.filter(sale__in=updated):
            existing[line.sale_id][line.external_line_id] = line
    to_create, to_update = [], []
    for spec, result in zip(specs, results, strict=True):
        current = existing.get(result.sale.pk, {}) if not result.created else {}
        wanted = {}
        for position, want in enumerate(spec.lines, start=1):
            wanted[want.key] = want
            values = {
                "position": position,
                "name": want.name[:255],
                "sku": (want.sku or "")[:255],
                "quantity": want.quantity,
                "unit_price_ex_tax": want.unit_price_ex_tax,
                "unit_price_inc_tax": want.unit_price_inc_tax,
                "discount": want.discount,
                "total_ex_tax": want.total_ex_tax,
                "total_tax": want.total_tax,
                "total_inc_tax": want.total_inc_tax,
            }
            line = current.get(want.key)
            if line is None:
                # The product object, not only its id: whoever reads the line next needs no query for it.
                created = new_row(SaleLine, sale=result.sale, external_line_id=want.key, product=want.product, **values)
                to_create.append(created)
                result.new_lines.append(created)
                if not result.created:
                    result.line_changes.append(f"added {want.quantity} x {values['name']}")
            elif line.product_id != want.product.pk or any(getattr(line, k) != v for k, v in values.items()):
                if line.quantity != want.quantity:
                    result.line_changes.append(f"{values['name']}: {line.quantity} → {want.quantity}")
                line.product_id = want.product.pk
                for k, v in values.items():
                    setattr(line, k, v)
                to_update.append(line)
        for key, line in current.items():
            if key not in wanted and line.quantity != 0:
                result.line_changes.append(f"removed {line.name}")
                line.quantity = 0
                line.total_ex_tax = line.total_tax = line.total_inc_tax = line.discount = Decimal("0")
                to_update.append(line)
    insert(SaleLine, to_create)
    bulk_update_rows(SaleLine, to_update, LINE_FIELDS)


def _stock(retailer_id: int, specs: Sequence[SaleSpec], results: list[SaleWritten]) -> None:
    """Move each tracked line to its desired net (−quantity for a closed sale; for a voided one, minus what its
    returns already put back, so the sale nets to zero), measured against the ledger by the movements' line key;
    then put returned units back, once per return."""
    pairs = [(s, r) for s, r in zip(specs, results, strict=True) if r.sale.stock_moved]
    if not pairs:
        return
    ledger: dict[tuple[int, str, int], int] = defaultdict(int)
    returned: dict[tuple[int, str, int], int] = defaultdict(int)
    entries: dict[tuple[int, str], int] = defaultdict(int)
    update_ids = [r.sale.pk for _, r in pairs if not r.created]
    if update_ids:
        rows = InventoryMovement.objects.filter(
            sale_id__in=update_ids, reason__in=(*LINE_MOVEMENT_REASONS, MovementReason.RETURN)
        )
        rows = rows.values_list("sale_id", "line_key", "product_id", "quantity", "reason")
        for sale_id, line_key, product_id, quantity, reason in rows:
            if reason == MovementReason.RETURN:
                returned[(sale_id, line_key, product_id)] += quantity
                continue
            ledger[(sale_id, line_key, product_id)] += quantity
            entries[(sale_id, line_key)] += 1
    moves, described = [], []
    for spec, result in pairs:
        sale = result.sale
        closed = sale.status == SaleStatus.CLOSED
        want: dict[tuple[str, int], int] = defaultdict(int)
        for line in spec.lines:
            if line.product.tracks_inventory and closed:
                want[(line.key, line.product.pk)] -= line.quantity
        keys = set(want) | {(k, p) for (s, k, p) in ledger if s == sale.pk}
        if not closed:
            keys |= {(k, p) for (s, k, p) in returned if s == sale.pk}
            for (s, k, p), quantity in returned.items():
                if s == sale.pk:
                    want[(k, p)] = -quantity
        prefix = spec.source_prefix or f"pos:sale:{sale.pk}"
        common = {"outlet_id": sale.outlet_id, "sale_id": sale.pk, "user_id": spec.user.pk if spec.user else None}
        for line_key, product_id in sorted(keys, key=str):
            delta = want.get((line_key, product_id), 0) - ledger.get((sale.pk, line_key, product_id), 0)
            if not delta:
                continue
            n = entries[(sale.pk, line_key)]
            if n == 0:
                reason, source_key = MovementReason.SALE, f"{prefix}:{line_key}:sale:{product_id}"
            elif not closed:
                reason, source_key = MovementReason.VOID, f"{prefix}:{line_key}:void:{product_id}"
            else:
                reason, source_key = MovementReason.EDIT, f"{prefix}:{line_key}:edit:{n}:{product_id}"
            moves.append(
                StockMove(
                    product_id=product_id,
                    quantity=delta,
                    reason=reason,
                    source_key=source_key,
                    note=spec.stock_note,
                    line_key=line_key,
                    **common,
                )
            )
        if not closed:
            continue
        lines = {line.key: line for line in spec.lines}
        for back in spec.returns:
            line = lines.get(back.line_key)
            if line is None or not line.product.tracks_inventory or back.quantity <= 0:
                continue
            moves.append(
                StockMove(
                    product_id=line.product.pk,
                    quantity=back.quantity,
                    reason=MovementReason.RETURN,
                    source_key=f"{prefix}:{back.line_key}:return:{back.key}",
                    note=spec.stock_note,
                    line_key=back.line_key,
                    **common,
                )
            )
            described.append((len(moves) - 1, result, f"{back.quantity} × {line.name}"))
    outcomes = stock_move_many(retailer_id=retailer_id, moves=moves)
    for index, result, text in described:
        if outcomes[index].moved:
            result.returned.append(text)
