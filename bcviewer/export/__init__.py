"""Heatmaps and exports (PNG, overlay, CSV, GeoJSON) from tile scores."""
