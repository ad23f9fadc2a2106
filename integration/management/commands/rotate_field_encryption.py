from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from integration.fields import EncryptedTextField, rotate_ciphertext
from integration.models import StoreLink


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEY. Prepend the new key, run this, "
        "then drop the old key."
    )

    def handle(self, *args, **options):
        fields = [f for f in StoreLink._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        table = connection.ops.quote_name(StoreLink._meta.db_table)
        rotated = 0
        with transaction.atomic():
            for pk in StoreLink.objects.select_for_update().values_list("pk", flat=True):
                for field in fields:
                    column = connection.ops.quote_name(field.column)
                    with connection.cursor() as cursor:
                        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
                        (ciphertext,) = cursor.fetchone()
                        if not ciphertext:
                            continue
                        cursor.execute(
                            f"UPDATE {table} SET {column} = %s WHERE id = %s", [rotate_ciphertext(ciphertext), pk]
                        )
                        rotated += 1
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {rotated} secret(s) with the newest key"))
