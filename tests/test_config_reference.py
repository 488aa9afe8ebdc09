"""The configuration reference and the INI mapping table cover every SNN Toolbox setting."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from snn_core.config import CORE_TABLES
from snn_core.ini_import import SETTINGS, mapping_rows

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "snntoolbox-settings.txt"
DOCS = ROOT / "docs" / "config-reference.md"


def reference_text() -> str:
    if not REFERENCE.is_file():
        pytest.skip(f"the SNN Toolbox settings reference is missing: {REFERENCE}")
    return REFERENCE.read_text(encoding="utf-8")


def default_block_keys(text: str) -> list[str]:
    """Keys of the reference's default settings block (``name =`` at a line start)."""
    start = text.index("SNN toolbox default settings")
    end = text.index("# Use the following section", start)
    return re.findall(r"^([A-Za-z_]\w*) =", text[start:end], flags=re.MULTILINE)


def described_keys(text: str) -> list[str]:
    """Settings the reference describes (``name: type`` at a line start)."""
    pattern = r"^([A-Za-z_]\w*): (?:str|string|bool|int|float|dict|tuple|set|list|Iterable)\b"
    return re.findall(pattern, text, flags=re.MULTILINE)


def docs_rows() -> dict[str, str]:
    """Rows of the SNN Toolbox -> snn table in the docs: setting -> rest of the row."""
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `(\w+)` \| \[(\w+)\] \|(.*)$", line)
        if m:
            rows[m.group(1)] = m.group(3)
    return rows


def test_default_block_is_parsed_as_expected():
    keys = default_block_keys(reference_text())
    assert len(keys) == len(set(keys)), "a key appears twice in the default block"
    # plotproperties spans several lines and counts once; its inner keys are quoted.
    assert keys.count("plotproperties") == 1
    assert "font.size" not in keys
    assert {"path_wd", "v_thresh", "use_simple_labels", "bias_relaxation"} <= set(keys)
    assert len(keys) > 80


def test_docs_table_lists_every_reference_setting():
    text = reference_text()
    rows = docs_rows()
    wanted = set(default_block_keys(text)) | set(described_keys(text))
    assert "i_offset" in wanted and "evaluateANN" in wanted
    missing = sorted(wanted - set(rows))
    assert not missing, f"docs/config-reference.md lacks rows for {missing}"
    for key in wanted:
        assert re.search(r"`[a-z_]+\.\w+`|not applicable:|planned|base folder", rows[key]), (
            f"the row of {key} gives neither our key nor a reason"
        )


def test_mapping_table_covers_every_reference_setting():
    text = reference_text()
    wanted = set(default_block_keys(text)) | set(described_keys(text))
    missing = sorted(wanted - set(SETTINGS))
    assert not missing, f"SETTINGS in snn_core/ini_import.py lacks {missing}"
    for setting in SETTINGS.values():
        if setting.target is None and setting.name != "path_wd":
            assert re.match(r"(not applicable: |not yet implemented: planned as )", setting.note)


def test_mapping_targets_are_keys_of_our_schema():
    for setting in SETTINGS.values():
        if setting.target is None:
            continue
        table, key = setting.target.split(".")
        if table in CORE_TABLES:
            assert key in attrs.fields_dict(CORE_TABLES[table]), setting


def test_docs_table_agrees_with_the_mapping_table():
    rows = docs_rows()
    for name, _section, _default, _home in mapping_rows():
        target = SETTINGS[name].target
        assert name in rows
        if target is not None:
            assert f"`{target}`" in rows[name], f"docs row of {name} does not name {target}"
        assert f"[{SETTINGS[name].section}]" in DOCS.read_text(encoding="utf-8")


def test_docs_list_every_key_of_the_core_tables():
    text = DOCS.read_text(encoding="utf-8")
    for table, cls in CORE_TABLES.items():
        section = text.split(f"### `[{table}]`", 1)
        assert len(section) == 2, f"docs lack a section for [{table}]"
        body = section[1].split("###", 1)[0]
        for field in attrs.fields(cls):
            assert f"| `{field.name}` |" in body, f"docs lack [{table}] {field.name}"
