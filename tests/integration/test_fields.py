"""Secrets at rest: the token is encrypted with FIELD_ENCRYPTION_KEY, readable after a key rotation."""

from __future__ import annotations

import re

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from integration.fields import DecryptionError, EncryptedTextField
from integration.models import AppInstall, StoreLink
from tests import factories

pytestmark = pytest.mark.django_db


def _raw(column: str, pk: int, table: str = "integration_storelink") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_the_raw_columns_hold_no_token_or_secret():
    link = factories.StoreLinkFactory(access_token="tok-abcdef123456", webhook_secret="whsec-987654")
    install = factories.AppInstallFactory(access_token="app-tok-5678abcd")

    assert "tok-abcdef123456" not in _raw("access_token", link.pk)
    assert "whsec-987654" not in _raw("webhook_secret", link.pk)
    assert "app-tok-5678abcd" not in _raw("access_token", install.pk, "integration_appinstall")
    assert StoreLink.objects.get(pk=link.pk).access_token == "tok-abcdef123456"
    assert AppInstall.objects.get(pk=install.pk).access_token == "app-tok-5678abcd"


def test_every_column_named_like_a_token_or_secret_is_encrypted():
    # A new `refresh_token = models.CharField()` would store a credential in clear: it must be encrypted too.
    plain = [
        f"{model.__name__}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if re.search(r"token|secret", field.name) and not isinstance(field, EncryptedTextField)
    ]

    assert plain == []


def test_rotation_re_encrypts_with_the_new_key_and_the_old_key_can_then_go(settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    link = factories.StoreLinkFactory(access_token="tok-rotate-me")
    install = factories.AppInstallFactory(access_token="app-tok-rotate-me")
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    call_command("rotate_field_encryption")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]

    assert StoreLink.objects.get(pk=link.pk).access_token == "tok-rotate-me"
    assert AppInstall.objects.get(pk=install.pk).access_token == "app-tok-rotate-me"
    assert Fernet(new_key.encode()).decrypt(_raw("access_token", link.pk).encode()) == b"tok-rotate-me"


def test_a_missing_key_is_a_clear_error_not_garbage(settings):
    link = factories.StoreLinkFactory(access_token="tok-x")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(DecryptionError, match="cannot be decrypted"):
        StoreLink.objects.get(pk=link.pk)
