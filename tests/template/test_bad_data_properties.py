"""Bad data of any shape: whatever bytes a data source returns, `read_data` ends with a frame that
training can use or with a `DataValidationError` that names the problem (which the DAG fails
without retrying). Properties over generated and mutated CSVs, not a hand-picked list.

Each input goes through what `read_data` runs (`fetch_raw_data` of a local file, then
`read_dataset`); a frame that validates then goes through what the later steps run: the project's
split, each part stored and read back, its first candidate fitted and scored on every part.
Two projects: the template (regression, numeric columns) and the classification example (wine,
with a categorical column and a categorical target).

The number of examples is the hypothesis profile's (tests/template/conftest.py): `ci` by default,
deterministic; HYPOTHESIS_PROFILE=thorough tries many more. The terminal summary reports how many
distinct inputs the session tried and how each ended.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import BAD_DATA_TALLY
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

PROJECTS = ("project_template", "wine_check")

# What each rejection is about, by the words of its message: every message must name one.
PROBLEMS = {
    "size": r"is empty|no rows|rows; at least \d+|too large",
    "encoding": r"not valid [\w-]+( text)?:",
    "delimiter": r"wrong delimiter|not a valid '.+'-separated CSV",
    "rows": r"columns but data row|blank line|header appears again",
    "header": r"first line|column name|missing required column|duplicated column",
    "types": r"must be (numeric|boolean|one of|in range|not missing)",
    "non-finite": r"must be finite",
    "duplicates": r"duplicate row",
    "classes": r"class",
}
MESSAGE_LIMIT = 2000  # an error message is read by a person: it names, it does not dump


@dataclass
class Project:
    package: str
    modules: dict[str, ModuleType]
    example: bytes

    def __getattr__(self, name: str) -> ModuleType:
        try:
            return self.modules[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def schema(self):
        return self.config.SCHEMA


def load_project(package: str) -> Project:
    names = {"config": "config", "read_data": "Data.read_data", "checks": "mlops_platform.schema",
             "store": "mlops_platform.dataset_store", "split": "Process.data_processing",
             "features": "Process.features", "candidates": "Models.candidates",
             "train": "Models.train_model", "metrics": "mlops_platform.metrics",
             "logging": "mlops_platform.model_logging"}
    modules = {key: importlib.import_module(f"{package}.{name}") for key, name in names.items()}
    return Project(package, modules, modules["config"].LOCAL_DATA_FILE.read_bytes())


@pytest.fixture(scope="module", params=PROJECTS)
def project(request: pytest.FixtureRequest) -> Project:
    if request.param == "wine_check":
        request.getfixturevalue("classification_project")
    return load_project(request.param)


@pytest.fixture(scope="module")
def source_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad-data")


# -- what read_data and the later steps do with the bytes -----------------------------------------


def train_on(project: Project, frame) -> dict[str, float]:
    """What data_processing and model_training do with a validated frame: split, store and read
    back each part, fit the project's first candidate, score it on every part."""
    parts = {name: project.store.as_stored(part)
             for name, part in project.split.split_dataset(frame).items()}
    candidate = project.candidates.resolve_candidates()[0]
    x_train, y_train = project.features.features_and_target(parts["train"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence on odd data is the model's business
        model = project.train.train_model(candidate, x_train, y_train)
        scores = {}
        for name, part in parts.items():
            x, y = project.features.features_and_target(part)
            predictions = project.logging.fitted_predictions(model, x)
            if project.config.TASK == "regression":
                assert np.isfinite(predictions.values.astype(float)).all(), name
            scores.update(project.metrics.score(project.config.TASK, y, predictions, name,
                                                project.schema.positive_class))
    return scores


def read_data_outcome(project: Project, raw: bytes, folder: Path) -> str:
    """Run `raw` through read_data's fetch and validation; return "valid" or the problem named.

    Any exception other than the project's DataValidationError fails the property: the DAG would
    retry it, and show a traceback instead of the problem.
    """
    digest = hashlib.sha256(project.package.encode() + raw).hexdigest()
    path = folder / f"{digest[:16]}.csv"
    path.write_bytes(raw)
    source = project.read_data.DataSource("local", str(path))
    fetched = project.read_data.fetch_raw_data(source)
    assert fetched == raw
    try:
        frame = project.store.read_dataset(fetched)
    except project.checks.DataValidationError as error:
        message = str(error)
        assert 0 < len(message) <= MESSAGE_LIMIT, message[:MESSAGE_LIMIT]
        # The problem named first (a message may list several rules broken).
        found = {name: match.start() for name, words in PROBLEMS.items()
                 if (match := re.search(words, message))}
        assert found, f"the message names no problem: {message}"
        outcome = min(found, key=found.get)
    else:
        scores = train_on(project, frame)
        unusable = {name: value for name, value in scores.items() if not math.isfinite(value)}
        assert not unusable, f"training scored non-finite metrics on a validated frame: {unusable}"
        outcome = "valid"
    finally:
        path.unlink()
    BAD_DATA_TALLY.record(project.package, digest, outcome)
    if currently_in_test_context():
        event(outcome)  # --hypothesis-show-statistics: how the inputs ended
    return outcome


# -- strategies: mutations of the project's example data ------------------------------------------

NASTY_CELLS = [
    "", " ", "NaN", "nan", "-nan", "NULL", "null", "None", "NA", "N/A", "?", "-",
    "inf", "-inf", "Infinity", "+inf", "1e400", "-1e400", "1e308", "-1.7976931348623157e308",
    "1e200", "1e155", "1e150", "-1e149", "1e-400", "4.9e-324", "0", "-0", "1,5", "1.000,5",
    "1_000", "0x1F", "1e", "--1", "True", "false", "yes", '"', '""', '"7"', "\x00", "é", "\ufeff",
    "’", "٣", "５", ";", ",", "\t", "\n", "\r", "\r\n", "  12 ", "+5", ".5", "5.", "9" * 400,
    "x" * 5000, "low", "medium", "high", "class_0", "class_1", "class_2", "LOW", "low ",
]


def cell_values(project: Project) -> st.SearchStrategy[str]:
    categories = [c for column in project.schema.columns for c in (column.categories or ())]
    return st.one_of(
        st.sampled_from(NASTY_CELLS + categories),
        st.floats().map(repr),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.17g}"),
        st.integers(min_value=-(10 ** 30), max_value=10 ** 30).map(str),
        st.text(max_size=12),
    )


Table = list[list[str]]  # the header, then the rows


def example_table(project: Project) -> Table:
    return [line.split(";") for line in project.example.decode().splitlines()]


@st.composite
def mutated_table(draw: st.DrawFn, project: Project, kinds: tuple[str, ...],
                  most: int = 3) -> Table:
    """The example table after up to `most` mutations of `kinds` (none: the example, valid)."""
    table = [list(row) for row in example_table(project)]
    values = cell_values(project)
    for _ in range(draw(st.integers(0, most))):
        rows, width = len(table) - 1, len(table[0])
        row = draw(st.integers(1, max(rows, 1))) if rows else 0
        column = draw(st.integers(0, width - 1))
        kind = draw(st.sampled_from(kinds))
        # Earlier mutations may have left ragged rows: a column is changed where a row has it.
        if kind == "cell" and rows and column < len(table[row]):
            table[row][column] = draw(values)
        elif kind == "column_value":  # one value down a whole column (constant or all missing)
            value = draw(values)
            for line in table[1:]:
                line[column:column + 1] = [value] if column < len(line) else []
        elif kind == "drop_column":
            for line in table:
                del line[column:column + 1]
        elif kind == "duplicate_column":
            for line in table:
                line.extend(line[column:column + 1])
        elif kind == "rename_column":
            table[0][column] = draw(st.sampled_from(
                ["", " ", table[0][column].upper(), f" {table[0][column]}", table[0][-1],
                 table[0][column] + "\ufeff"]) | st.text(max_size=8))
        elif kind == "swap_columns":  # valid: columns are found by name
            other = draw(st.integers(0, width - 1))
            for line in table:
                if max(column, other) < len(line):
                    line[column], line[other] = line[other], line[column]
        elif kind == "extra_column":  # valid: columns the schema does not name are left out
            name = draw(st.text(min_size=1, max_size=8))
            table[0].append(name)
            for line in table[1:]:
                line.append(draw(values))
        elif kind == "duplicate_rows" and rows:
            copies = draw(st.lists(st.integers(1, rows), min_size=1, max_size=5))
            table.extend(list(table[i]) for i in copies)
        elif kind == "keep_first":
            table = table[:1 + draw(st.integers(0, rows))]
        elif kind == "keep_last":
            table = table[:1] + table[1 + draw(st.integers(0, rows)):]
        elif kind == "repeat_header" and rows:
            table.insert(row, list(table[0]))
        elif kind == "blank_line" and rows:
            table.insert(row, [])
        elif kind == "short_row" and rows and table[row]:
            table[row] = table[row][:-1]
        elif kind == "long_row" and rows:
            table[row] = [*table[row], draw(values)]
        elif kind == "twice":  # the file appended to itself, header and all
            table = table + table
        elif kind == "class_count" and rows:
            # Rows of few targets only: one class, or one class with a handful of rows.
            target = table[0].index(project.schema.target.name) \
                if project.schema.target.name in table[0] else column
            keep = draw(st.integers(1, 12))
            first = table[1][target] if target < len(table[1]) else ""
            seen: dict[str, int] = {}
            kept = [table[0]]
            for line in table[1:]:
                key = line[target] if target < len(line) else ""
                seen[key] = seen.get(key, 0) + 1
                if key == first or seen[key] <= keep:
                    kept.append(line)
            table = kept
    return table


def rarely_not(draw: st.DrawFn) -> bool:
    return draw(st.integers(0, 3)) > 0


CELL_MUTATIONS = ("cell", "column_value")
SHAPE_MUTATIONS = ("drop_column", "duplicate_column", "rename_column", "swap_columns",
                   "extra_column", "duplicate_rows", "keep_first", "keep_last", "repeat_header",
                   "blank_line", "short_row", "long_row", "twice", "cell",
                   "class_count", "class_count", "class_count")  # the regression has none


@st.composite
def serialized(draw: st.DrawFn, table: Table, project: Project, spoil: bool = False) -> bytes:
    """`table` as bytes: a delimiter, quoting, line ending and encoding, then byte mutations.

    Unless `spoil`, the project's delimiter and encoding, and no byte mutation.
    """
    delimiter = project.config.DATA.delimiter if not spoil or rarely_not(draw) else draw(
        st.sampled_from([",", "\t", "|", " "]))
    ending = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    if draw(st.booleans()):  # quoted where needed: the structure survives odd cells
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator=ending).writerows(table)
        text = out.getvalue()
    else:
        text = "".join(delimiter.join(row) + ending for row in table)
    if draw(st.booleans()):
        text = text.removesuffix(ending)
    encoding = project.config.DATA.encoding if not spoil or draw(st.booleans()) else draw(
        st.sampled_from(["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]))
    raw = text.encode(encoding, errors="replace")
    for _ in range(draw(st.integers(0, 2)) if spoil else 0):
        at = draw(st.integers(0, len(raw)))
        kind = draw(st.sampled_from(["truncate", "insert", "overwrite", "delete"]))
        if kind == "truncate":
            raw = raw[:at]
        elif kind == "insert":
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=6)) + raw[at:]
        elif kind == "overwrite":
            raw = raw[:at] + draw(st.binary(min_size=1, max_size=1)) + raw[at + 1:]
        else:
            raw = raw[:at] + raw[at + draw(st.integers(1, 64)):]
    return raw


@st.composite
def spoiled_cells(draw: st.DrawFn, project: Project) -> bytes:
    """Cell values: missing markers, non-finite and huge numbers, text, odd characters."""
    return draw(serialized(draw(mutated_table(project, CELL_MUTATIONS, most=4)), project))


@st.composite
def spoiled_shape(draw: st.DrawFn, project: Project) -> bytes:
    """Columns and rows: dropped, repeated, renamed, ragged, cut, few of a class."""
    return draw(serialized(draw(mutated_table(project, SHAPE_MUTATIONS)), project))


@st.composite
def spoiled_form(draw: st.DrawFn, project: Project) -> bytes:
    """The file's form: delimiter, encoding, truncated or corrupted bytes (and a few of the
    above, so that the two meet)."""
    table = draw(mutated_table(project, CELL_MUTATIONS + SHAPE_MUTATIONS, most=1))
    return draw(serialized(table, project, spoil=True))


# -- strategies: datasets generated from the schema alone ---------------------------------------


def column_values(column, rows: int) -> st.SearchStrategy[list[str]]:
    if column.type == "boolean":
        value = st.sampled_from(["true", "false", "1", "0", "yes", "no"])
    elif column.type == "categorical":
        value = st.sampled_from(list(column.categories)) if column.categories else \
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
                    min_size=1, max_size=6)
    else:
        # Ordinary magnitudes: single extreme cells (up to the limit of 1e150) are the mutated
        # CSVs' part. A column whose values span hundreds of orders of magnitude trains, but a
        # model's error on it can overflow to inf (scored as the worst, so never promoted).
        low = -1e9 if column.min is None else column.min
        high = 1e9 if column.max is None else column.max
        value = st.floats(low, high, allow_nan=False, allow_infinity=False).map(repr)
    if column.nullable:
        value = value | st.just("")
    return st.lists(value, min_size=rows, max_size=rows)


@st.composite
def generated_csv(draw: st.DrawFn, project: Project) -> bytes:
    """A dataset of the schema's columns, each cell a value its column allows."""
    rows = draw(st.integers(project.config.DATA.min_rows, project.config.DATA.min_rows + 30))
    columns = {column.name: draw(column_values(column, rows)) for column in project.schema.columns}
    table = [list(columns), *map(list, zip(*columns.values(), strict=True))]
    out = io.StringIO()
    csv.writer(out, delimiter=project.config.DATA.delimiter, lineterminator="\n").writerows(table)
    return out.getvalue().encode(project.config.DATA.encoding)


# -- the properties -----------------------------------------------------------------------------

# Most inputs are rejected in milliseconds; a valid one costs about a second (it is parsed four
# times and trained), and the generated ones are nearly all valid: they get a quarter of the
# profile's examples.
FAST_ENOUGH = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                              HealthCheck.large_base_example,
                                              HealthCheck.function_scoped_fixture])


@FAST_ENOUGH
@given(data=st.data())
def test_spoiled_cells_give_a_trainable_frame_or_a_named_validation_error(
        project, source_dir, data):
    read_data_outcome(project, data.draw(spoiled_cells(project), label="raw"), source_dir)


@FAST_ENOUGH
@given(data=st.data())
def test_spoiled_shape_gives_a_trainable_frame_or_a_named_validation_error(
        project, source_dir, data):
    read_data_outcome(project, data.draw(spoiled_shape(project), label="raw"), source_dir)


@FAST_ENOUGH
@given(data=st.data())
def test_spoiled_form_gives_a_trainable_frame_or_a_named_validation_error(
        project, source_dir, data):
    read_data_outcome(project, data.draw(spoiled_form(project), label="raw"), source_dir)


@settings(FAST_ENOUGH, max_examples=max(10, settings.default.max_examples // 4))
@given(data=st.data())
def test_generated_csv_is_a_trainable_frame_or_a_named_validation_error(project, source_dir, data):
    outcome = read_data_outcome(project, data.draw(generated_csv(project), label="raw"),
                                source_dir)
    # Every cell is a value its column allows: only the whole can fail (repeated rows, classes).
    assert outcome in ("valid", "duplicates", "classes"), outcome


@FAST_ENOUGH
@given(raw=st.binary(max_size=2000))
def test_arbitrary_bytes_are_a_named_validation_error(project, source_dir, raw):
    assert read_data_outcome(project, raw, source_dir) != "valid"


def test_the_unmutated_example_trains(project, source_dir):
    assert read_data_outcome(project, project.example, source_dir) == "valid"


def test_temp_files_are_left_behind_by_nobody(source_dir):
    assert list(source_dir.iterdir()) == []

