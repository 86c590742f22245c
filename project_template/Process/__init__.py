"""Processing: validate a dataset, split it, and build the feature pipeline."""
