"""The claim as one PostgreSQL function, `work_claim` (`work.claim_sql`): a claim costs one statement, no BEGIN or
COMMIT, its planner settings the function's own.

The function's text lives in `work.claim_sql` alone: a later change to it needs a new migration that runs it again
(CREATE OR REPLACE) with `CLAIM_FUNCTION_SHA256` set to the new text's hash, so that databases migrated before it
get the new text (`tests/work/test_kernel.py` checks the newest migration's hash against the text).
"""

from django.db import migrations

from work.claim_sql import CLAIM_FUNCTION, DROP_CLAIM_FUNCTION

# The hash of the text this migration was written for (see the docstring).
CLAIM_FUNCTION_SHA256 = "7ded9caa01aa924f26503f9cc2394dc3905e089b5016490d213c84539a553b48"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # SQLite (development) claims in Python
        schema_editor.execute(CLAIM_FUNCTION)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_CLAIM_FUNCTION)


class Migration(migrations.Migration):

    dependencies = [
        ('work', '0003_queue_heads'),
    ]

    operations = [
        migrations.RunPython(create_function, drop_function),
    ]
