"""Serve the current champion of every registered MLflow model with MLflow's scoring protocol."""
