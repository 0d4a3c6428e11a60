"""Detection: the scorer (`detector`), `episodes`, `live` detection in the recorder, `training`,
the model `registry` and `review`.
"""
