"""Durable work: every piece of background work is a database row written in the same transaction as its cause.

See `work.kernel` for the rules (request, claim, lease, finish), `work.registry` for the kinds of work and their
retry policies, `work.worker` for the RQ worker that runs them and `work.bell` for the Redis doorbell.
"""
