"""Alerts: tell the operator when an episode opens or escalates, through apprise URLs or a local command.

`config` reads the `[alerts]` table, `outbox` queues alerts with their episode (in the recorder's
transaction), `message` words them, `channels` delivers them (the only module that imports apprise),
`sender` is the recorder's delivery thread, and `status` reports pending, delivered and failed alerts.
"""
