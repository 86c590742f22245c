"""An MLOps lifecycle project: importable as a package named after its folder (see DAG/dag_template.py)."""
