"""Loading paper declarations: what is kept, and the errors for malformed files."""
from __future__ import annotations

import re

import pytest

from repro.errors import DataError
from repro.audit.papers import load_paper

from conftest import CLAIMS_YAML, TABLES_YAML, write_paper


def test_cells_keep_printed_text_units_and_conditions(toy_paper):
    ours = toy_paper.cell("1", "Ours", "Top-1")
    assert ours.printed == "73.20" and ours.value == pytest.approx(73.2)
    assert ours.half_unit == pytest.approx(0.005)
    assert ours.unit == "%" and ours.kind == "accuracy"
    assert ours.conditions == {"dataset": "Kinetics-400"}
    assert ours.source.endswith("tables.yaml:12")


def test_dash_is_absent_and_thousands_separator_parses(toy_paper):
    assert toy_paper.cell("1", "1:1", "Top-1").absent
    assert toy_paper.cell("1", "1:1", "GFLOPs").value == 1024.0
    assert len(list(toy_paper.cells())) == 5
    assert len(list(toy_paper.cells(include_absent=True))) == 6


def test_unquoted_sexagesimal_label_stays_as_written(tmp_path):
    # PyYAML reads 1:3 as the base-60 integer 63; labels must keep the printed text.
    folder = write_paper(tmp_path, tables=TABLES_YAML.replace('label: "1:1"', "label: 1:3"),
                         claims="claims: []\n")
    assert "1:3" in load_paper(folder).tables["1"].rows


def _error(tmp_path, **files) -> DataError:
    folder = write_paper(tmp_path, **files)
    with pytest.raises(DataError) as caught:
        load_paper(folder)
    return caught.value


def test_missing_unit_names_file_line_and_field(tmp_path):
    err = _error(tmp_path, tables=TABLES_YAML.replace('{label: GFLOPs, unit: GFLOPs, kind: flops}',
                                                      '{label: GFLOPs, kind: flops}'))
    assert err.path.endswith("tables.yaml") and err.line == 7
    assert err.field == "table 1.columns[1].unit"
    assert "a unit for column 'GFLOPs'" in str(err)
    assert re.match(r".*tables\.yaml:7: table 1\.columns\[1\]\.unit: ", str(err))


def test_non_numeric_value(tmp_path):
    err = _error(tmp_path, tables=TABLES_YAML.replace("[70.0, 30.0]", "[70.0, thirty]"))
    assert err.line == 10 and err.field == "table 1.row 'Base'.values['GFLOPs']"
    assert "a number as printed" in err.expected and "'thirty'" in err.expected


def test_duplicate_cell_from_repeated_row(tmp_path):
    tables = TABLES_YAML + "      - label: Ours\n        values: [1, 2]\n"
    err = _error(tmp_path, tables=tables)
    assert err.line == 15 and "duplicates" in err.expected and "'Ours'" in err.expected


def test_duplicate_column_label(tmp_path):
    tables = TABLES_YAML.replace("{label: GFLOPs, unit: GFLOPs", "{label: Top-1, unit: GFLOPs")
    assert "unique column label" in _error(tmp_path, tables=tables).expected


def test_duplicate_key_in_a_mapping(tmp_path):
    tables = TABLES_YAML.replace("  - table: \"1\"\n", "  - table: \"1\"\n    table: \"2\"\n")
    err = _error(tmp_path, tables=tables)
    assert err.line == 3 and err.field == "table" and "duplicate key" in err.expected


def test_claim_referencing_unknown_cell_lists_close_matches(tmp_path):
    claims = CLAIMS_YAML.replace("{1|Ours|Top-1} - {1|Base|Top-1}", "{1|Our|Top-1} - {1|Base|Top-1}")
    err = _error(tmp_path, claims=claims)
    assert err.path.endswith("claims.yaml") and err.line == 6
    assert err.field == "claims[0] (gain).expr"
    assert "no cell ('Our', 'Top-1')" in err.expected and "'Ours'" in err.expected


def test_claim_referencing_unknown_table(tmp_path):
    err = _error(tmp_path, claims=CLAIMS_YAML.replace("{1|Base|Top-1}", "{9|Base|Top-1}"))
    assert "no table '9'" in err.expected


def test_claim_referencing_absent_cell(tmp_path):
    err = _error(tmp_path, claims=CLAIMS_YAML.replace("{1|Base|Top-1}", "{1|1:1|Top-1}"))
    assert "printed as '-'" in err.expected


def test_wrong_number_of_values(tmp_path):
    err = _error(tmp_path, tables=TABLES_YAML.replace("[70.0, 30.0]", "[70.0]"))
    assert err.line == 10 and "2 values, one per column (Top-1, GFLOPs), got 1" in err.expected


def test_bad_table_id_and_bad_kind_and_bad_op(tmp_path):
    assert "Roman numerals" in _error(tmp_path / "a", tables=TABLES_YAML.replace('"1"', "II")).expected
    err = _error(tmp_path / "b", tables=TABLES_YAML.replace("kind: flops", "kind: speed"))
    assert "one of accuracy, params, flops" in err.expected
    err = _error(tmp_path / "c", claims=CLAIMS_YAML.replace("op: approx", "op: about"))
    assert err.field == "claims[1] (half).op" and "one of eq, approx" in err.expected


def test_claim_without_expression_needs_a_reason(tmp_path):
    err = _error(tmp_path, claims=CLAIMS_YAML.replace('    unchecked: "only in a figure"\n', ""))
    assert "expr: null with a reason" in err.expected


def test_bad_expression_syntax_and_forbidden_names(tmp_path):
    err = _error(tmp_path / "a", claims=CLAIMS_YAML.replace("{1|Ours|Top-1} - {1|Base|Top-1}", "{1|Ours|Top-1} -"))
    assert "not an arithmetic expression" in err.expected
    err = _error(tmp_path / "b", claims=CLAIMS_YAML.replace("{1|Ours|Top-1} - {1|Base|Top-1}",
                                                            "__import__('os').getcwd()"))
    assert "is not allowed" in err.expected


def test_yaml_syntax_error_reports_its_line(tmp_path):
    err = _error(tmp_path, tables="tables:\n  - table: [1\n")
    assert err.field == "yaml" and err.line is not None


def test_missing_file_and_wrong_folder_id(tmp_path):
    folder = write_paper(tmp_path)
    (folder / "claims.yaml").unlink()
    with pytest.raises(DataError, match="claims.yaml: file: this file to exist"):
        load_paper(folder)
    err = _error(tmp_path / "x", paper="id: other\ntitle: t\nauthors: []\nvenue: v\nyear: 2020\n")
    assert err.field == "paper.id" and "'toy'" in err.expected


def test_printed_bound_is_kept(tmp_path):
    folder = write_paper(tmp_path, tables=TABLES_YAML.replace("[70.0, 30.0]", '[70.0, ">107.9"]'),
                         claims="claims: []\n")
    cell = load_paper(folder).cell("1", "Base", "GFLOPs")
    assert cell.value == 107.9 and cell.qualifier == ">" and cell.printed == ">107.9"


def test_method_notes_are_written_out_or_quoted_from_code(tmp_path):
    from conftest import PAPER_YAML

    notes = PAPER_YAML.format(id="toy") + (
        "method_notes:\n"
        "  - {title: Written, items: [one, two]}\n"
        "  - {title: Quoted, source: the code, from: 'repro.data.audio_images:DIFFERENCES_FROM_PUBLIC_CODE'}\n")
    paper = load_paper(write_paper(tmp_path, paper=notes))
    from repro.data.audio_images import DIFFERENCES_FROM_PUBLIC_CODE

    assert [(n.title, n.items) for n in paper.method_notes] == [
        ("Written", ("one", "two")), ("Quoted", DIFFERENCES_FROM_PUBLIC_CODE)]
    bad = PAPER_YAML.format(id="toy") + "method_notes:\n  - {title: X, from: 'repro.nothing:LIST'}\n"
    with pytest.raises(DataError, match=r"paper.yaml:\d+: paper.method_notes\[0\].from: an importable module:ATTR"):
        load_paper(write_paper(tmp_path / "b", paper=bad))
    both = PAPER_YAML.format(id="toy") + "method_notes:\n  - {title: X, items: [a], from: 'os:sep'}\n"
    with pytest.raises(DataError, match=r"method_notes\[0\]: either items"):
        load_paper(write_paper(tmp_path / "c", paper=both))
