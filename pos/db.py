"""Database helpers the services share."""

from __future__ import annotations

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
