"""Sync to PostgreSQL: the `push`, `local` checkpoints and rejects, the `server` side, table specs
(`tables`) and the `target`.
"""
