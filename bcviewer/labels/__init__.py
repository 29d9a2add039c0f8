"""Label store (SQLite project file) and the hierarchical self-learning relabel loop."""
