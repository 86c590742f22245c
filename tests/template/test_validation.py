"""Bad data is rejected with a message that names the column, the rows and the rule (pandera)."""

from __future__ import annotations

import pytest

from project_template import config
from project_template.mlops_platform.dataset_store import read_dataset
from project_template.mlops_platform.description import ColumnSpec, Schema
from project_template.mlops_platform.schema import DataValidationError, parse_dataset


def parse(raw: bytes, schema: Schema = config.SCHEMA, min_rows: int = config.DATA.min_rows):
    return parse_dataset(raw, schema, ";", "utf-8", min_rows)


def _rewrite(example: bytes, transform) -> bytes:
    lines = example.decode().splitlines()
    return ("\n".join(transform(lines)) + "\n").encode()


def _set_cell(lines: list[str], row: int, column: int, value: str) -> list[str]:
    out = list(lines)
    cells = out[row].split(";")
    cells[column] = value
    out[row] = ";".join(cells)
    return out


def test_wrong_delimiter_is_named(example_bytes):
    comma = _rewrite(example_bytes, lambda lines: [line.replace(";", ",") for line in lines])
    with pytest.raises(DataValidationError, match="wrong delimiter"):
        parse(comma)


def test_missing_target_column_is_named(example_bytes):
    without_target = _rewrite(example_bytes,
                              lambda lines: [line.rsplit(";", 1)[0] for line in lines])
    with pytest.raises(DataValidationError, match="missing required column.*disease_progression"):
        parse(without_target)


def test_a_renamed_column_is_named_with_what_took_its_place(example_bytes):
    renamed = _rewrite(example_bytes, lambda lines: [lines[0].replace("bmi", "BMI"), *lines[1:]])
    with pytest.raises(DataValidationError,
                       match=r"missing required column\(s\): bmi; columns not in the schema: 'BMI'"):
        parse(renamed)


def test_duplicated_and_blank_header_columns_are_errors_not_renamed(example_bytes):
    # pandas would read these as `age.1` and `Unnamed: 11` without a word.
    duplicated = _rewrite(example_bytes, lambda lines: [lines[0] + ";age",
                                                        *(line + ";1" for line in lines[1:])])
    with pytest.raises(DataValidationError, match=r"duplicated column\(s\) in the header: 'age'"):
        parse(duplicated)
    blank = _rewrite(example_bytes, lambda lines: [lines[0] + "; ", *(line + ";1" for line in lines[1:])])
    with pytest.raises(DataValidationError, match=r"blank column name\(s\) at position\(s\) 12"):
        parse(blank)


def test_short_and_long_rows_and_blank_lines_are_named(example_bytes):
    # pandas would fill a short row with NaN and skip a blank line.
    short = _rewrite(example_bytes, lambda lines: [*lines[:5], lines[5].rsplit(";", 1)[0],
                                                   *lines[6:]])
    with pytest.raises(DataValidationError, match=r"11 columns but data row\(s\) 5 \(10\)"):
        parse(short)
    long = _rewrite(example_bytes, lambda lines: [*lines[:9], lines[9] + ";7", *lines[10:]])
    with pytest.raises(DataValidationError, match=r"data row\(s\) 9 \(12\)"):
        parse(long)
    gap = _rewrite(example_bytes, lambda lines: [*lines[:3], "", *lines[3:]])
    with pytest.raises(DataValidationError, match=r"blank line\(s\) at data row\(s\) 3"):
        parse(gap)


def test_bytes_that_are_not_the_declared_encoding_are_named_with_their_line(example_bytes):
    lines = example_bytes.split(b"\n")
    lines[6] = lines[6].replace(b";", b";\xe9", 1)
    with pytest.raises(DataValidationError, match=r"not valid utf-8: byte 0xe9 at line 7"):
        parse(b"\n".join(lines))


def test_a_byte_order_mark_is_not_part_of_the_first_column(example_bytes):
    assert list(parse(b"\xef\xbb\xbf" + example_bytes).columns)[0] == "age"


def test_non_numeric_values_are_named_with_column_rows_and_values(example_bytes):
    spoiled = _rewrite(example_bytes, lambda lines: _set_cell(_set_cell(lines, 3, 2, "thirty"),
                                                              8, 2, "n/a"))
    with pytest.raises(DataValidationError, match=r"column 'bmi' must be numeric: 2 row\(s\) fail, "
                                                  r"data row\(s\) 3, 8 \(values 'thirty', 'n/a'\)"):
        parse(spoiled)


def test_out_of_range_values_are_named_with_the_rule(example_bytes):
    spoiled = _rewrite(example_bytes, lambda lines: _set_cell(lines, 2, 0, "-4"))
    with pytest.raises(DataValidationError, match=r"column 'age' must be in range \[0.0, 120.0\]: "
                                                  r"1 row\(s\) fail, data row\(s\) 2 \(values '-4'\)"):
        parse(spoiled)


@pytest.mark.parametrize("content", [b"", b"   \n\n"])
def test_empty_file_is_named(content):
    with pytest.raises(DataValidationError, match="empty"):
        parse(content)


def test_header_without_rows_is_named(example_bytes):
    with pytest.raises(DataValidationError, match="no rows"):
        parse(_rewrite(example_bytes, lambda lines: lines[:1]))


def test_missing_values_are_rejected_in_columns_that_may_not_miss_them(example_bytes):
    holes = _rewrite(example_bytes, lambda lines: _set_cell(_set_cell(_set_cell(
        lines, 5, 3, ""), 9, 3, ""), 12, 0, "NaN"))
    with pytest.raises(DataValidationError) as raised:
        parse(holes)
    message = str(raised.value)
    assert "column 'age' must be not missing: 1 row(s) fail, data row(s) 12" in message
    assert "column 'bp' must be not missing: 2 row(s) fail, data row(s) 5, 9" in message


def test_too_few_rows_is_named(example_bytes):
    with pytest.raises(DataValidationError, match="at least 50"):
        parse(_rewrite(example_bytes, lambda lines: lines[:11]))


def test_extra_columns_are_left_out_and_numbers_are_float(example_bytes):
    extra = _rewrite(example_bytes, lambda lines: [f"{line};x" for line in lines])
    frame = parse(extra)
    assert list(frame.columns) == [*config.FEATURE_COLUMNS, config.TARGET_COLUMN]
    assert set(frame.dtypes.astype(str)) == {"float64"}


MIXED = Schema(
    target=ColumnSpec("label", "categorical", categories=("no", "yes")),
    features=(ColumnSpec("country", "categorical", categories=("DE", "FR", "NA")),
              ColumnSpec("member", "boolean", nullable=True),
              ColumnSpec("spend", "numeric", nullable=True, min=0)),
)


def test_categorical_boolean_and_nullable_columns_parse_exactly_as_written():
    raw = b"country;member;spend;label\nNA;true;1.5;yes\nFR;;;no\nDE;0;3;no\n"
    frame = parse(raw, MIXED, min_rows=1)
    # "NA" is a category here (North America), not a missing value; a blank cell is missing.
    assert frame["country"].tolist() == ["NA", "FR", "DE"]
    assert frame["member"].tolist()[0] is True and frame["member"].isna().tolist() == [
        False, True, False]
    assert frame["spend"].isna().tolist() == [False, True, False]
    assert frame["label"].tolist() == ["yes", "no", "no"]


def test_unknown_categories_and_non_boolean_words_are_named():
    raw = b"country;member;spend;label\nUS;maybe;1;yes\nFR;yes;2;perhaps\n"
    with pytest.raises(DataValidationError) as raised:
        parse(raw, MIXED, min_rows=1)
    message = str(raised.value)
    assert "column 'country' must be one of ['DE', 'FR', 'NA']: 1 row(s) fail, data row(s) 1 " \
           "(values 'US')" in message
    assert "column 'member' must be boolean" in message and "'maybe'" in message
    assert "column 'label' must be one of ['no', 'yes']: 1 row(s) fail, data row(s) 2" in message


def test_every_missing_column_is_named_not_only_the_first_few():
    with pytest.raises(DataValidationError) as raised:
        parse(b"age;sex;bmi\n59;2;32.1\n48;1;21.6\n", min_rows=1)
    for column in ("bp", "s1", "s6", "disease_progression"):
        assert column in str(raised.value)


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e400", "1e151"])
def test_infinite_and_huge_numbers_are_named_as_not_finite(example_bytes, value):
    # pandas reads all of these as numbers; training would meet inf, or overflow to it.
    spoiled = _rewrite(example_bytes, lambda lines: _set_cell(lines, 4, 5, value))
    with pytest.raises(DataValidationError, match=r"column 's2' must be finite \(no inf, "
                                                  r"magnitude at most 1e\+150\): 1 row\(s\) "
                                                  r"fail, data row\(s\) 4"):
        parse(spoiled)


def test_the_largest_allowed_magnitude_is_read():
    assert parse(b"age;sex;bmi;bp;s1;s2;s3;s4;s5;s6;disease_progression\n"
                 b"59;2;32.1;101;1e150;-1e150;38;4;4.8;87;151\n", min_rows=1)["s1"][0] == 1e150


def test_duplicate_rows_are_named_with_the_row_they_repeat(example_bytes):
    twice = _rewrite(example_bytes, lambda lines: [*lines, lines[3]])
    with pytest.raises(DataValidationError, match=r"1 duplicate row\(s\): data row\(s\) 443 "
                                                  r"\(= 3\) repeat an earlier row; .*"
                                                  r"allow_duplicate_rows"):
        read_dataset(twice)
    assert len(parse(twice)) == 443  # a split part may hold repeats: the rule is the dataset's


def test_a_file_appended_to_itself_names_the_repeated_header(example_bytes):
    with pytest.raises(DataValidationError, match=r"the header appears again at data row\(s\) 443"):
        parse(example_bytes + example_bytes)


def test_a_missing_header_and_a_blank_first_line_are_named(example_bytes):
    headless = _rewrite(example_bytes, lambda lines: lines[1:])
    with pytest.raises(DataValidationError, match="the first line holds numbers, not column names"):
        parse(headless)
    with pytest.raises(DataValidationError, match="the first line is blank"):
        parse(b"\n" + example_bytes)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_and_utf32_files_are_named_as_such(example_bytes, encoding):
    with pytest.raises(DataValidationError, match=rf"not valid utf-8: it starts with a "
                                                  rf"{encoding.upper()} byte-order mark"):
        parse(example_bytes.decode().encode(encoding))
    with pytest.raises(DataValidationError, match=r"not valid utf-8 text: a NUL byte at line 1"):
        parse(example_bytes.decode().encode(f"{encoding}-le"))


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(example_bytes):
    with pytest.raises(DataValidationError, match=r"too large: 0.0 MB, more than the 0.001 MB "
                                                  r"allowed; raise \[data\] max_mb"):
        parse_dataset(example_bytes, config.SCHEMA, max_bytes=1000)


def test_long_values_and_names_are_cut_short_in_messages(example_bytes):
    spoiled = _rewrite(example_bytes, lambda lines: _set_cell(lines, 2, 1, "x" * 100_000))
    with pytest.raises(DataValidationError, match=r"\(100000 chars\)") as raised:
        parse(spoiled)
    assert len(str(raised.value)) < 300


def test_a_classification_target_needs_two_classes_each_with_rows_for_every_part():
    head = b"country;member;spend;label\n"
    one_class = head + b"".join(b"DE;true;%d;no\n" % i for i in range(20))
    with pytest.raises(DataValidationError, match="single class 'no': a classifier needs at least two"):
        parse_dataset(one_class, MIXED, min_rows_per_class=5)
    rare = one_class + b"FR;false;1;yes\nFR;false;2;yes\n"
    with pytest.raises(DataValidationError, match=r"target 'label': class\(es\) 'yes' \(2\) have "
                                                  r"fewer than 5 rows"):
        parse_dataset(rare, MIXED, min_rows_per_class=5)
