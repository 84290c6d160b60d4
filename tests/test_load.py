"""Load phase: marks, and every malformed-input case of SPEC §7 gets a located diagnostic."""

from __future__ import annotations

import pytest
from manifestc.load import MAX_BYTES, load_bytes


def codes(result):
    return [(d.code, d.line, d.col) for d in result.diagnostics]


def test_marks_point_at_values_and_keys():
    result = load_bytes(b"manifest: 1\nsource:\n  repository: x\n  branch: dev\n", "m.yaml")
    assert result.data == {"manifest": 1, "source": {"repository": "x", "branch": "dev"}}
    assert result.marks.values[("source", "branch")] == (4, 11)
    assert result.marks.keys[("source", "branch")] == (4, 3)
    assert result.marks.locate(("source", "missing", 3)) == (3, 3)  # nearest located ancestor


def test_duplicate_keys_are_rejected_with_both_lines():
    result = load_bytes(b"name: a\nteam: t\nname: b\n", "m.yaml")
    assert result.data is None
    assert codes(result) == [("MC007", 3, 1)]
    assert "line 1" in result.diagnostics[0].message


def test_duplicate_keys_nested_all_reported():
    result = load_bytes(b"a:\n  x: 1\n  x: 2\nb:\n  y: 1\n  y: 2\n", "m.yaml")
    assert [c[0] for c in codes(result)] == ["MC007", "MC007"]


def test_several_documents():
    result = load_bytes(b"manifest: 1\n---\nname: b\n", "m.yaml")
    assert codes(result) == [("MC005", 2, 1)]


def test_not_a_mapping():
    assert codes(load_bytes(b"- a\n- b\n", "m.yaml")) == [("MC006", 1, 1)]
    assert codes(load_bytes(b"just text\n", "m.yaml")) == [("MC006", 1, 1)]


def test_empty_file():
    assert [c[0] for c in codes(load_bytes(b"", "m.yaml"))] == ["MC010"]
    assert [c[0] for c in codes(load_bytes(b"# only a comment\n", "m.yaml"))] == ["MC010"]


def test_tabs_in_indentation_are_located():
    result = load_bytes(b"source:\n\trepository: x\n", "m.yaml")
    assert codes(result) == [("MC004", 2, 1)]


def test_non_utf8_is_located():
    result = load_bytes(b"name: ok\nteam: caf\xe9\n", "m.yaml")
    assert codes(result) == [("MC002", 2, 10)]


def test_syntax_error_is_located():
    result = load_bytes(b"name: [unclosed\nteam: x\n", "m.yaml")
    assert result.diagnostics[0].code == "MC003"
    assert result.diagnostics[0].line >= 1


def test_alias_bomb_hits_the_node_limit_not_memory():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        prev = chr(ord("a") + level - 1)
        cur = chr(ord("a") + level)
        lines.append(f"{cur}: &{cur} [{', '.join('*' + prev for _ in range(10))}]")
    result = load_bytes(("\n".join(lines) + "\n").encode(), "m.yaml")
    assert result.data is None
    assert result.diagnostics[0].code == "MC009"


def test_oversized_input():
    result = load_bytes(b"a: " + b"x" * (MAX_BYTES + 10), "m.yaml")
    assert [c[0] for c in codes(result)] == ["MC008"]


def test_custom_tags_are_rejected():
    result = load_bytes(b"name: !Ref Foo\n", "m.yaml")
    assert [c[:2] for c in codes(result)] == [("MC011", 1)]
    result = load_bytes(b"name: !!python/object:os.system x\n", "m.yaml")
    assert result.diagnostics[0].code == "MC011"


def test_merge_keys_work_and_explicit_keys_win():
    text = b"base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n"
    result = load_bytes(text, "m.yaml")
    assert result.data["other"] == {"x": 1, "y": 3}
    assert not result.diagnostics


def test_bom_is_accepted():
    assert load_bytes("\ufeffname: x\n".encode(), "m.yaml").data == {"name": "x"}


# YAML syntax errors: plain words, the line to fix (not where the parser gave up), and a hint.
SYNTAX_CASES = [
    # (name, text, line, col, words in the message, words in the hint)
    ("missing colon", "manifest: 1\nname demo\nteam: t\n", 2, 1, "`name demo` has no colon", "colon"),
    (
        "missing colon, nested",
        "source:\n  repository x\n  branch: main\n",
        2,
        3,
        "`repository x` has no colon",
        "colon",
    ),
    (
        "no space after colon",
        "manifest: 1\nname:demo\nteam: t\n",
        2,
        1,
        "missing space after the colon",
        "`name: demo`",
    ),
    ("unclosed double quote", 'manifest: 1\nname: "demo\nteam: t\n', 2, 7, "unclosed quote", 'matching "'),
    ("unclosed single quote", "manifest: 1\nname: 'demo\nteam: t\n", 2, 7, "unclosed quote", "matching '"),
    ("unclosed bracket", "manifest: 1\nquality_gates: [lint, sast\nteam: t\n", 2, 16, "unclosed `[`", "`]`"),
    ("unclosed brace", "manifest: 1\nsource: {repository: x\nteam: t\n", 2, 9, "unclosed `{`", "`}`"),
    ("indented too little", "source:\n  repository: x\n branch: main\n", 3, 2, "bad indentation", "same column"),
    ("indented too much", "manifest: 1\nname: demo\n  team: t\n", 3, 3, "indented more than `name: demo`", "0 spaces"),
    ("list item indent", "tests:\n  - name: unit\n   commands: [a]\n", 3, 4, "bad indentation", "2 spaces"),
    ("colon in a value", "name: a: b\n", 1, 8, "a value holds `: `", "quote the value"),
    ("list where a key goes", "name: demo\n- unit\n", 2, 1, "a list item where a key is expected", "`key:`"),
]


@pytest.mark.parametrize("name, text, line, col, message, hint", SYNTAX_CASES, ids=[c[0] for c in SYNTAX_CASES])
def test_syntax_errors_in_plain_language(name, text, line, col, message, hint):
    result = load_bytes(text.encode(), "m.yaml")
    (diagnostic,) = result.diagnostics
    assert (diagnostic.code, diagnostic.line, diagnostic.col) == ("MC003", line, col)
    assert message in diagnostic.message
    assert hint in diagnostic.hint
    for jargon in ("<block end>", "simple key", "scanning", "stream"):
        assert jargon not in diagnostic.message
