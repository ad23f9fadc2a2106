"""Database helpers the services share."""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence

from django.db import connection


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
    arrays = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objs] for f in columns]
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
    meta = model._meta
    pk = meta.pk
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    fields = [f for f in meta.concrete_fields if f is not pk]
    started = time.perf_counter()
    # A foreign key set to an object inserted since (its id known now, not when it was assigned), as bulk_create
    # takes it; an unsaved one fails as it would there (NOT NULL, or the database's foreign key check).
    for field in [f for f in fields if f.is_relation and f.many_to_one]:
        for obj in objs:
            if getattr(obj, field.attname) is None and field.is_cached(obj):
                related = field.get_cached_value(obj)
                if related is not None:
                    setattr(obj, field.attname, related.pk)
    with connection.cursor() as cursor:
        missing = [obj for obj in objs if obj.pk is None]
        if missing:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, pk.column, len(missing)],
            )
            for obj, (new_id,) in zip(missing, cursor.fetchall(), strict=True):
                obj.pk = new_id
        columns = [pk, *fields]
        getters = []
        for field in columns:
            kind = field.get_internal_type()
            if kind in _PLAIN_TYPES and not _automatic(field):
                getters.append(operator.attrgetter(field.attname))
            elif kind == "DateTimeField" and not _automatic(field):
                getters.append(_moment(field))
            else:
                getters.append(_prepared(field))
        sql = f"COPY {table} ({', '.join(quote(f.column) for f in columns)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for obj in objs:
                copy.write_row([get(obj) for get in getters])
    if connection.queries_logged:  # the debug log and query counts see the COPY as the statement it is
        connection.queries_log.append({"sql": sql, "time": f"{time.perf_counter() - started:.3f}"})
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


def _prepared(field):
    def get(obj):
        return field.get_db_prep_save(field.pre_save(obj, True), connection)

    return get


def _moment(field):
    prepared = _prepared(field)

    def get(obj):
        value = getattr(obj, field.attname)
        # An aware datetime (or none) goes as it is; a naive one through Django (its warning, its time zone).
        return value if value is None or getattr(value, "tzinfo", None) is not None else prepared(obj)

    return get


def _automatic(field) -> bool:
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def inserter(*, as_set: bool):
    """How a writer inserts its new rows: `insert_rows` (as sets) for big batches, else `bulk_create`."""
    return insert_rows if as_set else _bulk_create


def _bulk_create(model, objs: Sequence) -> list:
    return model.objects.bulk_create(objs)
