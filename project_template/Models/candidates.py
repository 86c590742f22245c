"""The candidate estimators: resolve the names a DAG run asks for, and build each estimator."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from sklearn.base import BaseEstimator

from .. import config


class CandidateError(ValueError):
    """A requested candidate is unknown or its estimator cannot be built."""


def resolve_candidates(names: Iterable[str] | None = None,
                       catalog: dict[str, dict] | None = None) -> list[dict]:
    """The specs of the named candidates (all of the catalog when `names` is empty)."""
    catalog = config.CANDIDATE_MODELS if catalog is None else catalog
    names = list(names or catalog)
    unknown = [name for name in names if name not in catalog]
    if unknown:
        raise CandidateError(f"unknown candidate model(s): {', '.join(unknown)}; "
                             f"known: {', '.join(catalog)}")
    return [{"name": name, **catalog[name]} for name in dict.fromkeys(names)]


def build_estimator(candidate: dict) -> BaseEstimator:
    """A fresh, unfitted estimator for `candidate` ({"name", "estimator", "params"})."""
    dotted = candidate["estimator"]
    # Only scikit-learn classes: the name comes from config, but it is still a dynamic import.
    if not dotted.startswith("sklearn."):
        raise CandidateError(f"{candidate['name']}: estimator {dotted!r} is not a scikit-learn class")
    module_name, _, class_name = dotted.rpartition(".")
    try:
        estimator_class = getattr(importlib.import_module(module_name), class_name)
        return estimator_class(**candidate.get("params", {}))
    except (ImportError, AttributeError, TypeError) as error:
        raise CandidateError(f"{candidate['name']}: cannot build {dotted}: {error}") from error
