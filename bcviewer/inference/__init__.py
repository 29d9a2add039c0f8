"""Streaming inference: ``Predictor`` runs a ``TileGrid`` through a model and yields ``TileScores``."""
