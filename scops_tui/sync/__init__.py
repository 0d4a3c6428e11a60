"""Sync to PostgreSQL: the run (`push`) and its `watch` loop, the `streams` each table sends, `batches` and the
server `session` they go through, the `rejects` list, `local` checkpoints and status, the `server` side, table
specs (`tables`), the `target`, and the run's `report`.
"""
