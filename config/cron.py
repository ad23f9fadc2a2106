"""The periodic jobs, for `manage.py rqcron config.cron` (exactly one such process per deployment).

rq's CronScheduler enqueues each job on its queue at its interval or cron time; the workers run them. Every job
here is idempotent, so a run that overlaps a slow previous one, or a second scheduler by mistake, does no harm.
Cron expressions are in UTC.
"""

from __future__ import annotations

from django.conf import settings
from rq import cron

from integration.jobs import (
    attention_digest_job,
    catalog_ids_refresh_all_job,
    historical_import_sweep_job,
    intake_sweep_job,
    reconcile_all_job,
    stock_push_sweep_job,
    sync_log_expire_job,
)

# Webhook deliveries Redis missed or lost, and retries whose time has passed: queued again within a minute.
cron.register(intake_sweep_job, queue_name="webhooks", interval=60, result_ttl=0)
# Orders webhooks never delivered, and hooks BigCommerce deactivated.
cron.register(reconcile_all_job, queue_name="webhooks", interval=settings.RECONCILE_INTERVAL_SECONDS, result_ttl=0)
# Successful sync log entries past the retention period.
cron.register(sync_log_expire_job, queue_name="default", cron="17 3 * * *", result_ttl=0)
# The daily email of orders needing attention to each retailer's admins.
cron.register(attention_digest_job, queue_name="default", cron="0 7 * * *", result_ttl=0)
# The list of each store's catalog product ids (tells a deleted product from a new one without an API call).
cron.register(catalog_ids_refresh_all_job, queue_name="default", cron="41 2 * * *", result_ttl=0)
# Stock and price pushes whose job Redis lost or never got.
cron.register(stock_push_sweep_job, queue_name="default", interval=60, result_ttl=0)
# Historical imports whose worker died or whose job Redis lost: queued again, they resume from their cursor.
cron.register(historical_import_sweep_job, queue_name="imports", interval=60, result_ttl=0)
