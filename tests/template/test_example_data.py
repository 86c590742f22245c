"""The committed example dataset is exactly what scikit-learn's bundled diabetes data gives."""

from __future__ import annotations

from conftest import EXAMPLE_CSV

from project_template import config
from project_template.Data.example_dataset import example_dataset_csv, write_example_dataset
from project_template.mlops_platform.dataset_store import read_frame


def test_committed_csv_equals_the_regenerated_one():
    assert EXAMPLE_CSV.read_text(encoding="utf-8") == example_dataset_csv()


def test_regeneration_writes_the_same_bytes(tmp_path):
    written = write_example_dataset(tmp_path / "diabetes.csv")
    assert written.read_bytes() == EXAMPLE_CSV.read_bytes()


def test_example_is_semicolon_separated_and_passes_validation(example_bytes):
    header = example_bytes.decode().splitlines()[0]
    assert header.split(";") == [*config.FEATURE_COLUMNS, config.TARGET_COLUMN]
    frame = read_frame(example_bytes, min_rows=config.DATA.min_rows)
    assert len(frame) == 442
    assert list(frame.columns) == [*config.FEATURE_COLUMNS, config.TARGET_COLUMN]
