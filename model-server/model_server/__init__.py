"""Serve the current champion of a registered MLflow model with MLflow's scoring protocol."""
