"""Regenerate the example dataset (scikit-learn's bundled diabetes data) as the committed CSV.

Run from the repository root: `python -m project_template.Data.example_dataset`.
"""

from __future__ import annotations

from pathlib import Path

from sklearn.datasets import load_diabetes

from .. import config

EXAMPLE_CSV = Path(__file__).resolve().parent / "example_data" / "diabetes.csv"


def example_dataset_csv() -> str:
    """The diabetes data in original units (not scaled), `;`-separated with a header."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame = frame.rename(columns={"target": config.TARGET_COLUMN})
    return frame.to_csv(sep=config.CSV_DELIMITER, index=False, lineterminator="\n")


def write_example_dataset(path: Path = EXAMPLE_CSV) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(example_dataset_csv(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write_example_dataset()}")
