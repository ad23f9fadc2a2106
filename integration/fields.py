"""A text field encrypted at rest with the dedicated FIELD_ENCRYPTION_KEY list (Fernet, rotatable).

The first key encrypts; every key decrypts, so a new key is prepended, `manage.py rotate_field_encryption`
re-encrypts the rows, and the old key is dropped afterwards. The key is independent of SECRET_KEY on purpose:
rotating the session secret must not make stored tokens unreadable.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be comma-separated Fernet keys (32 url-safe base64-encoded bytes each)."
        ) from exc


def fernet() -> MultiFernet:
    if not settings.FIELD_ENCRYPTION_KEYS:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is not set.")
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


class DecryptionError(Exception):
    """A stored secret cannot be read with any configured key (a key was dropped too early)."""


class EncryptedTextField(models.TextField):
    """Stores `fernet(value)`; reads give back the plain text. Not queryable (the ciphertext is randomised)."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return fernet().decrypt(value.encode()).decode()
        except InvalidToken as exc:
            raise DecryptionError(
                f"{self.model.__name__}.{self.name} cannot be decrypted with the configured FIELD_ENCRYPTION_KEY"
            ) from exc

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return fernet().encrypt(value.encode()).decode()

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise NotImplementedError(f"{self.__class__.__name__} does not support the '{lookup_name}' lookup")
        return super().get_lookup(lookup_name)


def rotate_ciphertext(token: str) -> str:
    """Re-encrypt a stored ciphertext with the first (newest) key."""
    return fernet().rotate(token.encode()).decode()
