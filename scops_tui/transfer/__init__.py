"""Moving data in and out: legacy JSON and CSV import (`importer`), CSV series, streaming `export`,
safe output files.
"""
