"""Webhooks: signed POSTs to other systems when jobs end, a slot is missed or a backup fails
(docs/webhooks.md). `service` keeps the hooks, `triggers` turns events into deliveries,
`delivery` sends one (through the SSRF `guard`, signed by `signing`), `tasks` is its Celery edge."""
