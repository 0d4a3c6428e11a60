"""scops-tui: a local-first host monitor with anomaly review, export and PostgreSQL sync."""

__version__ = "0.1.0"
