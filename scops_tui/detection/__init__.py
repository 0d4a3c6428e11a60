"""Detection: the scorer (`detector`), `episodes`, `live` detection in the recorder, `training`,
the model `registry`, `review`, and scoring by the legacy thresholds (`rules`).
"""
