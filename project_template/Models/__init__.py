"""Models: the candidate estimators and how each is fitted (metrics and logging are the platform's)."""
