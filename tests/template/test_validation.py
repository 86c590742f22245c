"""Bad data is rejected with a message that names the problem."""

from __future__ import annotations

import pytest

from project_template.Process.validation import DataValidationError, parse_and_validate


def _rewrite(example: bytes, transform) -> bytes:
    lines = example.decode().splitlines()
    return ("\n".join(transform(lines)) + "\n").encode()


def test_wrong_delimiter_is_named(example_bytes):
    comma = _rewrite(example_bytes, lambda lines: [line.replace(";", ",") for line in lines])
    with pytest.raises(DataValidationError, match="wrong delimiter"):
        parse_and_validate(comma)


def test_missing_target_column_is_named(example_bytes):
    without_target = _rewrite(example_bytes,
                              lambda lines: [line.rsplit(";", 1)[0] for line in lines])
    with pytest.raises(DataValidationError, match="missing required column.*disease_progression"):
        parse_and_validate(without_target)


def test_non_numeric_value_is_named_with_column_and_row(example_bytes):
    def spoil(lines):
        cells = lines[3].split(";")
        cells[2] = "thirty"  # bmi of data row 3
        return [*lines[:3], ";".join(cells), *lines[4:]]

    with pytest.raises(DataValidationError, match=r"'bmi' must be numeric.*'thirty'.*row 3"):
        parse_and_validate(_rewrite(example_bytes, spoil))


@pytest.mark.parametrize("content", [b"", b"   \n\n"])
def test_empty_file_is_named(content):
    with pytest.raises(DataValidationError, match="empty"):
        parse_and_validate(content)


def test_header_without_rows_is_named(example_bytes):
    with pytest.raises(DataValidationError, match="no rows"):
        parse_and_validate(_rewrite(example_bytes, lambda lines: lines[:1]))


def test_nans_are_rejected_naming_columns_and_counts(example_bytes):
    def blank(lines):
        out = list(lines)
        for row in (5, 9):
            cells = out[row].split(";")
            cells[3] = ""  # bp
            out[row] = ";".join(cells)
        cells = out[12].split(";")
        cells[0] = "NaN"  # age
        out[12] = ";".join(cells)
        return out

    with pytest.raises(DataValidationError, match=r"missing values.*age \(1\), bp \(2\)"):
        parse_and_validate(_rewrite(example_bytes, blank))


def test_too_few_rows_is_named(example_bytes):
    with pytest.raises(DataValidationError, match="at least 50"):
        parse_and_validate(_rewrite(example_bytes, lambda lines: lines[:11]))


def test_extra_columns_are_dropped_and_types_are_float(example_bytes):
    extra = _rewrite(example_bytes, lambda lines: [f"{line};x" for line in lines])
    frame = parse_and_validate(extra)
    assert "x" not in frame.columns
    assert set(frame.dtypes.astype(str)) == {"float64"}
