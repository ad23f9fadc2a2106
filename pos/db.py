"""Database helpers the services share."""

from __future__ import annotations

import functools
import operator
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models.base import ModelState
from django.utils import timezone


def bulk_update_rows(model, objs: Sequence, fields: Sequence[str]) -> None:
    """Write `fields` of these already saved rows in one statement.

    One row: a plain `save(update_fields=...)`. On PostgreSQL: `UPDATE ... FROM unnest(arrays)`, whose cost does
    not grow with rows × fields the way Django's `bulk_update` (a CASE per field with a WHEN per row) does when
    a batch of orders updates fifty rows at once. Elsewhere: `bulk_update`. As with `bulk_update`, the values
    are the objects' attributes: `auto_now` fields are written as set, not refreshed.
    """
    objs = list(objs)
    if not objs:
        return
    if len(objs) == 1:
        objs[0].save(update_fields=list(fields))
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, list(fields))
        return
    meta = model._meta
    concrete = [meta.get_field(name) for name in fields]
    pk = meta.pk
    columns = [pk, *concrete]
    conn = _connection()
    arrays = [[f.get_db_prep_save(getattr(obj, f.attname), conn) for obj in objs] for f in columns]
    quote = connection.ops.quote_name
    names = [f"c{i}" for i in range(len(columns))]
    unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
    assignments = ", ".join(f"{quote(f.column)} = v.{n}" for f, n in zip(concrete, names[1:], strict=True))
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} FROM unnest({unnest}) AS v({', '.join(names)}) "
        f"WHERE t.{quote(pk.column)} = v.{names[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


# Field types whose Python value psycopg writes as Django would (no conversion needed on the way to COPY).
_PLAIN_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "DateField",
        "DecimalField",
        "EmailField",
        "ForeignKey",
        "IntegerField",
        "OneToOneField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SlugField",
        "SmallIntegerField",
        "TextField",
    }
)


def new_row(model, **values):
    """An unsaved instance, as `model(**values)` makes it (relations by object or by id, defaults for the fields
    not given), without `Model.__init__`'s work per field: for the many rows a batch of orders creates (a page of
    a historical import makes some 70,000), where that work was the biggest cost of building them. Models with
    `pre_init` / `post_init` receivers are made the ordinary way."""
    return _plan(model).new(values)


def insert_rows(model, objs: Sequence) -> list:
    """Insert new rows as a set, as `bulk_create(objs)` would, and set their ids: on PostgreSQL the ids come from
    the table's sequence up front (one statement) and the rows go in with `COPY` (one more), so nothing is
    compiled per row and nothing is read back; child rows can point at the ids at once. Elsewhere:
    `bulk_create`. Field values are prepared as for a save (`pre_save`: `auto_now_add` and the like), then passed
    as they are for plain types or through the field's `get_db_prep_save` (JSON, encrypted fields...)."""
    objs = list(objs)
    if not objs:
        return objs
    if connection.vendor != "postgresql":
        return model.objects.bulk_create(objs)
    plan = _plan(model)
    started = time.perf_counter()
    # A foreign key set to an object inserted since (its id known now, not when it was assigned), as bulk_create
    # takes it; an unsaved one fails as it would there (NOT NULL, or the database's foreign key check).
    for field in plan.relations:
        attname = field.attname
        for obj in objs:
            if obj.__dict__.get(attname) is None and field.is_cached(obj):
                related = field.get_cached_value(obj)
                if related is not None:
                    setattr(obj, attname, related.pk)
    missing = [obj for obj in objs if obj.pk is None]
    for obj, new_id in zip(missing, reserve_ids(model, len(missing)), strict=True):
        obj.pk = new_id
    _stamp(plan, objs)
    plain, special = plan.plain_getter, plan.special_getters
    if special:
        conn = _connection()
        rows = [plain(obj) + tuple(get(obj, conn) for get in special) for obj in objs]
    else:
        rows = [plain(obj) for obj in objs]
    sql = _copy(model, plan.columns, rows)
    if connection.queries_logged:  # the debug log and query counts see the COPY as the statement it is
        connection.queries_log.append({"sql": sql, "time": f"{time.perf_counter() - started:.3f}"})
    alias = connection.alias
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias
    return objs


def insert_rows_missing(model, objs: Sequence) -> None:
    """Insert these new rows unless a unique constraint already holds them (`bulk_create(objs,
    ignore_conflicts=True)`), ids left unset: on PostgreSQL one `INSERT ... SELECT FROM unnest(arrays) ON CONFLICT
    DO NOTHING`, nothing compiled per row. Elsewhere: `bulk_create`."""
    objs = list(objs)
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, ignore_conflicts=True)
        return
    plan = _plan(model)
    _stamp(plan, objs)
    pk = model._meta.pk
    fields = [f for f in plan.fields if f is not pk]
    quote = connection.ops.quote_name
    getters = [plan.getter[f.attname] for f in fields]
    conn = _connection()
    arrays = [[get(obj, conn) for obj in objs] for get in getters]
    casts = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"SELECT * FROM unnest({casts}) ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


def _stamp(plan: _RowPlan, objs: Sequence) -> None:
    """Set the `auto_now(_add)` datetimes of rows about to be inserted to this moment, as `pre_save` would."""
    if plan.stamped:
        now = timezone.now()
        for attname in plan.stamped:
            for obj in objs:
                setattr(obj, attname, now)


def reserve_ids(model, count: int) -> list[int]:
    """`count` new ids from the model's table sequence (PostgreSQL), in one statement, for rows written later."""
    if count <= 0:
        return []
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, count],
        )
        return [new_id for (new_id,) in cursor.fetchall()]


def _copy(model, columns: Sequence[str], rows: Sequence[tuple]) -> str:
    """`COPY` these rows (values in the order of `columns`, ready for psycopg) into the model's table."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        write = copy.write_row
        for row in rows:
            write(row)
    return sql


class _RowPlan:
    """What `new_row` and `insert_rows` need to know of a model, worked out once per model."""

    def __init__(self, model):
        from django.db.models.signals import post_init, pre_init

        meta = model._meta
        self.model = model
        self.ordinary = pre_init.has_listeners(model) or post_init.has_listeners(model)
        fields = [f for f in meta.concrete_fields if not f.generated]
        self.constant = {}
        self.computed = []
        # `timezone.now` as the default of every `created_at`, without its settings look-up per call.
        now = functools.partial(datetime.now, UTC) if settings.USE_TZ else datetime.now
        for f in fields:
            if f.has_default() and callable(f.default):
                self.computed.append((f.attname, now if f.default is timezone.now else f.default))
            else:
                self.constant[f.attname] = f.get_default()
        self.by_name = {f.name: f for f in fields if f.is_relation}  # foreign keys and one-to-ones
        self.relations = list(self.by_name.values())
        self.attnames = {f.attname for f in fields}
        self.fields = fields
        self.getter = {}
        plain, special = [], []
        # `auto_now(_add)` datetimes `insert_rows` sets itself, then reads as plain values (aware datetimes, which
        # psycopg writes as Django would): a `pre_save` and a `get_db_prep_save` per row and field less.
        self.stamped = [f.attname for f in fields if f.get_internal_type() == "DateTimeField" and _automatic(f)]
        for field in fields:
            kind = field.get_internal_type()
            if field.attname in self.stamped or (kind in _PLAIN_TYPES and not _automatic(field)):
                plain.append(field)
                self.getter[field.attname] = _plain(field)
            else:
                get = _moment(field) if kind == "DateTimeField" and not _automatic(field) else _prepared(field)
                special.append((field, get))
                self.getter[field.attname] = get
        self.columns = [f.column for f in plain] + [f.column for f, _ in special]
        getter = operator.attrgetter(*(f.attname for f in plain))
        self.plain_getter = getter if len(plain) > 1 else (lambda obj: (getter(obj),))
        self.special_getters = [get for _, get in special]

    def new(self, values: dict):
        model = self.model
        if self.ordinary:
            return model(**values)
        obj = model.__new__(model)
        attrs = dict(self.constant)
        for attname, default in self.computed:
            attrs[attname] = default()
        state = ModelState()
        for name, value in values.items():
            field = self.by_name.get(name)
            if field is None:
                if name not in self.attnames:
                    raise TypeError(f"{model.__name__}() got an unexpected keyword argument {name!r}")
                attrs[name] = value
            else:
                attrs[field.attname] = None if value is None else value.pk
                if value is not None:
                    state.fields_cache[name] = value
        attrs["_state"] = state
        obj.__dict__.update(attrs)
        return obj


_plans: dict = {}


def _plan(model) -> _RowPlan:
    plan = _plans.get(model)
    if plan is None:
        plan = _plans[model] = _RowPlan(model)
    return plan


def _connection():
    """The default database's connection object itself: `django.db.connection` is a proxy that looks it up on every
    attribute read (a thread-local lookup), which the fields' `get_db_prep_save` do several times per value:
    about 5 % of an import's CPU when passed through row by row."""
    return connections[DEFAULT_DB_ALIAS]


def _plain(field):
    read = operator.attrgetter(field.attname)

    def get(obj, conn):
        return read(obj)

    return get


def _prepared(field):
    def get(obj, conn):
        return field.get_db_prep_save(field.pre_save(obj, True), conn)

    return get


def _moment(field):
    prepared = _prepared(field)

    def get(obj, conn):
        value = getattr(obj, field.attname)
        # An aware datetime (or none) goes as it is; a naive one through Django (its warning, its time zone).
        return value if value is None or getattr(value, "tzinfo", None) is not None else prepared(obj, conn)

    return get


def _automatic(field) -> bool:
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def inserter(*, as_set: bool):
    """How a writer inserts its new rows: `insert_rows` (as sets) for big batches, else `bulk_create`."""
    return insert_rows if as_set else _bulk_create


def _bulk_create(model, objs: Sequence) -> list:
    return model.objects.bulk_create(objs)
