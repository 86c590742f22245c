"""Evidently 0.7 under pandas 3: the one name it imports that pandas 3 removed, and no telemetry.

Evidently 0.7.23 imports `infer_dtype_from_object` from `pandas.core.dtypes.common` in its legacy
data-integrity tests, a module every `import evidently` loads; pandas 3 removed the function. The
drift metrics we use never call it (measured: the same drift numbers as under pandas 2.3.3), so
the name is defined here to raise a clear error if anything ever does call it. This is narrower
than pinning pandas<3 for the whole platform (Airflow, MLflow, the model server and every
project's steps), and it is the only place that knows. Import Evidently through this module.
"""

from __future__ import annotations

import os

import pandas.core.dtypes.common as pandas_dtypes

# Evidently sends usage events to its own server unless DO_NOT_TRACK is set; only PyPI is
# reachable from the stack, and monitoring data is nobody else's business.
os.environ.setdefault("DO_NOT_TRACK", "1")


def _removed_in_pandas_3(*_args, **_kwargs):
    raise NotImplementedError(
        "evidently called pandas' infer_dtype_from_object, which pandas 3 removed; "
        "mlops_platform/evidently_compat.py only lets Evidently import. Use a drift metric that "
        "does not need it, or an Evidently release that supports pandas 3.")


if not hasattr(pandas_dtypes, "infer_dtype_from_object"):
    pandas_dtypes.infer_dtype_from_object = _removed_in_pandas_3

from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

__all__ = ["DataDefinition", "DataDriftPreset", "Dataset", "Report"]
