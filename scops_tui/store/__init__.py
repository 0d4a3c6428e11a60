"""The local SQLite store.

Connections and seed rows (`database`), migrations, care (`maintenance`: status, check, backup,
restore, prune), the per-minute and per-hour `rollup`, `history` reads, `records` and `timestamps`.
"""
