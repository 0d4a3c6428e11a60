"""Moving data in and out: import of metrics (`metrics_import`: `legacy_metrics` JSON or `csv_metrics`, rows
by `metric_rows`), `legacy_models` and `legacy_keys` (shared: `importer`, `legacy_json`), CSV series,
streaming `export`, safe output files.
"""
