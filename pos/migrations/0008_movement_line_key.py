"""The ledger's sale line key gets its own column, filled from the source keys written so far.

Sale movements were keyed `bc:<link>:<order>:<line>:...` (online) and `pos:sale:<sale>:<position>` (in store): the
line is the fourth part of both. Other movements (adjustments, counts, merges, opening stock) belong to no line.
"""

from django.db import migrations, models

BATCH = 2000
SALE_KEY_PREFIXES = ("bc:", "pos:sale:")


def fill_line_keys(apps, schema_editor):
    movement = apps.get_model("pos", "InventoryMovement")
    rows = movement.objects.filter(sale__isnull=False).only("pk", "source_key").order_by("pk")
    batch = []
    for row in rows.iterator(chunk_size=BATCH):
        parts = row.source_key.split(":")
        if row.source_key.startswith(SALE_KEY_PREFIXES) and len(parts) > 3:
            row.line_key = parts[3][:64]
            batch.append(row)
        if len(batch) >= BATCH:
            movement.objects.bulk_update(batch, ["line_key"])
            batch = []
    if batch:
        movement.objects.bulk_update(batch, ["line_key"])


class Migration(migrations.Migration):
    dependencies = [
        ("pos", "0007_shop_setup"),
    ]

    operations = [
        migrations.AddField(
            model_name="inventorymovement",
            name="line_key",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(fill_line_keys, migrations.RunPython.noop, elidable=True),
    ]
