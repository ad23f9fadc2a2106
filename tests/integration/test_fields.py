"""Secrets at rest: the token is encrypted with FIELD_ENCRYPTION_KEY, readable after a key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from integration.fields import DecryptionError
from integration.models import StoreLink
from tests import factories

pytestmark = pytest.mark.django_db


def _raw(column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM integration_storelink WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_the_raw_columns_hold_no_token_or_secret():
    link = factories.StoreLinkFactory(access_token="tok-abcdef123456", webhook_secret="whsec-987654")

    assert "tok-abcdef123456" not in _raw("access_token", link.pk)
    assert "whsec-987654" not in _raw("webhook_secret", link.pk)
    assert StoreLink.objects.get(pk=link.pk).access_token == "tok-abcdef123456"


def test_rotation_re_encrypts_with_the_new_key_and_the_old_key_can_then_go(settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    link = factories.StoreLinkFactory(access_token="tok-rotate-me")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_field_encryption")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]

    assert StoreLink.objects.get(pk=link.pk).access_token == "tok-rotate-me"
    assert Fernet(new_key.encode()).decrypt(_raw("access_token", link.pk).encode()) == b"tok-rotate-me"


def test_a_missing_key_is_a_clear_error_not_garbage(settings):
    link = factories.StoreLinkFactory(access_token="tok-x")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(DecryptionError, match="cannot be decrypted"):
        StoreLink.objects.get(pk=link.pk)
