"""docs/app.md's keyboard-shortcut table is the action table's (issue 30): every action
with a default key is listed with exactly its keys, and the generator's --check fails
when someone changes a key in one place only."""
from __future__ import annotations

from pathlib import Path

from app.window import shortcut_table
from app.window.action_table import DEFS, FIXED_KEYS, plain_text

APP_MD = Path(__file__).resolve().parents[2] / "docs" / "app.md"


def documented_rows() -> dict[tuple[str, str], str]:
    text = APP_MD.read_text(encoding="utf-8")
    block = text[text.index(shortcut_table.BEGIN):text.index(shortcut_table.END)]
    rows = {}
    for line in block.splitlines()[3:]:  # the marker, the header, the rule
        menu, action, keys = (c.strip() for c in line.strip().strip("|").split(" | "))
        rows[(menu, action)] = keys
    return rows


def test_every_action_key_is_documented_as_the_action_table_says():
    rows = documented_rows()
    with_keys = [d for d in DEFS.values() if d.keys and not d.hidden]
    assert len(with_keys) > 40
    for d in with_keys:
        assert rows.get((d.menu, plain_text(d))) == " or ".join(f"`{k}`" for k in d.keys), d.name
    for menu, action, keys in FIXED_KEYS:
        assert rows.get((menu, action)) == keys
    # nothing listed that the table does not have (the class keys are one row)
    assert len(rows) == len(with_keys) + len(FIXED_KEYS) + 1


def test_the_docs_table_is_the_generated_one():
    text = APP_MD.read_text(encoding="utf-8")
    assert shortcut_table.with_table(text, str(APP_MD)) == text
    assert shortcut_table.main(["--check", str(APP_MD)]) == 0


def test_check_fails_on_a_stale_table_and_a_rewrite_fixes_it(tmp_path, capsys):
    stale = tmp_path / "app.md"
    text = APP_MD.read_text(encoding="utf-8")
    stale.write_text(text.replace("| Review | Accept instance | `A` |",
                                  "| Review | Accept instance | `Y` |"), encoding="utf-8")
    assert shortcut_table.main(["--check", str(stale)]) == 1
    assert f"error: {stale}: the shortcut table differs" in capsys.readouterr().err
    assert shortcut_table.main([str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == text


def test_a_file_without_markers_is_an_error_naming_it(tmp_path, capsys):
    bare = tmp_path / "notes.md"
    bare.write_text("# notes\n", encoding="utf-8")
    assert shortcut_table.main([str(bare)]) == 2
    assert f"error: {bare}: no shortcut table markers" in capsys.readouterr().err
    assert bare.read_text(encoding="utf-8") == "# notes\n"
