"""The example datasets, from data bundled with scikit-learn, as `;`-separated CSV files.

- diabetes (regression): the template's `example_data/diabetes.csv`. Regenerate it from the
  repository root with `python -m project_template.Data.example_dataset`.
- wine (classification, three cultivars): what `make new-project TASK=classification` starts
  from. Its alcohol content is given as a category (`low`, `medium`, `high`) instead of a
  number, so the example has a categorical column for the feature steps to one-hot encode.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

EXAMPLE_CSV = Path(__file__).resolve().parent / "example_data" / "diabetes.csv"
DIABETES_TARGET = "disease_progression"
WINE_TARGET = "cultivar"
ALCOHOL_LEVELS = ("low", "medium", "high")


def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(sep=";", index=False, lineterminator="\n")


def diabetes_frame() -> pd.DataFrame:
    """The diabetes data in original units (not scaled)."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame
    return frame.rename(columns={"target": DIABETES_TARGET})


def wine_frame() -> pd.DataFrame:
    """The wine data, its target the cultivar's name and alcohol as a three-level category."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True)
    frame = wine.frame.drop(columns="target")
    levels = pd.qcut(frame.pop("alcohol"), q=len(ALCOHOL_LEVELS), labels=list(ALCOHOL_LEVELS))
    frame.insert(0, "alcohol_level", levels.astype(str))
    frame.columns = [column.replace("/", "_per_") for column in frame.columns]
    frame[WINE_TARGET] = [str(wine.target_names[label]) for label in wine.target]
    return frame


def example_dataset_csv() -> str:
    return _csv(diabetes_frame())


def wine_dataset_csv() -> str:
    return _csv(wine_frame())


def write_example_dataset(path: Path = EXAMPLE_CSV) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(example_dataset_csv(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write_example_dataset()}")
