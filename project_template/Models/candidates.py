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
    """A fresh, unfitted estimator for `candidate` ({"name", "estimator", "params"}).

    Any scikit-learn-compatible class (fit/predict, get_params), named by its dotted path in
    project.toml: scikit-learn's own, a Pipeline, or one of this project's modules.
    """
    dotted = candidate["estimator"]
    module_name, _, class_name = dotted.rpartition(".")
    try:
        estimator_class = getattr(importlib.import_module(module_name), class_name)
        estimator = estimator_class(**candidate.get("params", {}))
    except (ImportError, AttributeError, TypeError, ValueError) as error:
        raise CandidateError(f"{candidate['name']}: cannot build {dotted}: {error}") from error
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict")):
        raise CandidateError(f"{candidate['name']}: {dotted} has no fit/predict: not an estimator")
    return estimator
