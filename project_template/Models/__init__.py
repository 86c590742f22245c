"""Models: the candidate estimators, their metrics, and training with MLflow tracking."""
