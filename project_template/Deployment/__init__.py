"""Deployment: offer the experiment in the IDS catalog (selection, promotion and serving are the
platform's: mlops_platform/selection.py, promotion.py, deployment.py)."""
