from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from integration.fields import EncryptedTextField, rotate_ciphertext


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (every encrypted column of every model) with the first "
        "FIELD_ENCRYPTION_KEY. Prepend the new key, run this, then drop the old key."
    )

    def handle(self, *args, **options):
        rotated = 0
        with transaction.atomic():
            for model in apps.get_models():
                fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
                if fields:
                    rotated += self._rotate(model, fields)
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {rotated} secret(s) with the newest key"))

    @staticmethod
    def _rotate(model, fields) -> int:
        table = connection.ops.quote_name(model._meta.db_table)
        rotated = 0
        for pk in model._base_manager.select_for_update().values_list("pk", flat=True):
            for field in fields:
                column = connection.ops.quote_name(field.column)
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
                    (ciphertext,) = cursor.fetchone()
                    if not ciphertext:
                        continue
                    rotated_text = rotate_ciphertext(ciphertext)
                    cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [rotated_text, pk])
                    rotated += 1
        return rotated
