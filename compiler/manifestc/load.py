"""Load phase: bytes -> plain Python data plus the line/column of every node.

PyYAML's `safe_load` throws positions away, so the manifest is composed into nodes (which keep
their marks) and converted here, recording a mark per path. Duplicate keys, several documents,
alias bombs, oversized input, tabs and non-UTF-8 bytes are rejected with located diagnostics.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from .diagnostics import Diagnostic, Marks, Path, Severity

MAX_BYTES = 256 * 1024  # a manifest is tens of lines; this is a guard, not a budget
MAX_NODES = 100_000  # nodes as written: far above any real manifest, bounds the later phases' work
MAX_ALIAS_NODES = 20_000  # nodes reached again through aliases: stops "billion laughs" long before memory does
MAX_DEPTH = 64

_MERGE_TAG = "tag:yaml.org,2002:merge"
# The only tags a mapping or a sequence may carry (implicitly, or written as `!!map` / `!!seq`);
# PyYAML's composer keeps any other tag on the node, and converting it as a plain mapping would
# silently drop it (scalars with a foreign tag already fail in the constructor).
_COLLECTION_TAGS = {yaml.MappingNode: "tag:yaml.org,2002:map", yaml.SequenceNode: "tag:yaml.org,2002:seq"}


@dataclass
class LoadResult:
    """The loaded manifest: data is None when loading failed (diagnostics say why)."""

    file: str
    data: Any = None
    marks: Marks = field(default_factory=Marks)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    digest: str = ""


class _Limit(Exception):
    def __init__(self, code: str, message: str, line: int, col: int):
        super().__init__(message)
        self.code, self.message, self.line, self.col = code, message, line, col


def _diag(code: str, message: str, file: str, line: int, col: int, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, file, line, col, (), hint)


def load_file(path: str | FsPath, display: str | None = None) -> LoadResult:
    """Read and load a manifest file. Never raises on user error."""
    name = display or str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return LoadResult(
            name, diagnostics=[_diag("MC001", f"cannot read manifest: {exc.strerror or exc}", name, 0, 0)]
        )
    return load_bytes(raw, name)


def load_bytes(raw: bytes, file: str) -> LoadResult:
    """Load a manifest from bytes."""
    result = LoadResult(file, digest=hashlib.sha256(raw).hexdigest())
    if len(raw) > MAX_BYTES:
        result.diagnostics.append(_diag("MC008", f"manifest is larger than {MAX_BYTES // 1024} KiB", file, 1, 1))
        return result
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        result.diagnostics.append(
            _diag(
                "MC002",
                f"byte 0x{raw[exc.start]:02x} is not valid UTF-8",
                file,
                line,
                col,
                hint="re-save the file with UTF-8 encoding",
            )
        )
        return result
    text = text.removeprefix("\ufeff")
    _compose(text, result)
    return result


def _tab_lines(text: str) -> list[tuple[int, int]]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            found.append((number, indent.index("\t") + 1))
    return found


def _control_character(exc: yaml.reader.ReaderError, text: str, result: LoadResult) -> None:
    """The reader refuses control characters (YAML 1.1 allows only printable ones): locate it."""
    position = exc.position if isinstance(exc.position, int) else 0
    line = text.count("\n", 0, position) + 1
    col = position - (text.rfind("\n", 0, position) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
    result.diagnostics.append(
        _diag(
            "MC012",
            f"control character U+{code:04X} is not allowed in YAML",
            result.file,
            line,
            col,
            hint="delete it (often pasted from a terminal or a binary file); "
            'write it as an escape in a double-quoted string ("\\x01") if it is meant',
        )
    )


def _compose(text: str, result: LoadResult) -> None:
    try:
        # The reader checks every character when it is constructed, so construction is inside
        # the error handling too.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        _control_character(exc, text, result)
        return
    try:
        if not loader.check_node():
            result.diagnostics.append(
                _diag(
                    "MC010",
                    "the manifest is empty",
                    result.file,
                    1,
                    1,
                    hint="run `manifestc init` for a starter manifest",
                )
            )
            return
        node = loader.get_node()
        if loader.check_node():
            mark = loader.peek_event().start_mark
            result.diagnostics.append(
                _diag(
                    "MC005",
                    "a second YAML document starts here; a manifest is one document",
                    result.file,
                    mark.line + 1,
                    mark.column + 1,
                    hint="remove the `---` separator and what follows, or split the file",
                )
            )
            return
        if not isinstance(node, yaml.MappingNode):
            mark = node.start_mark
            result.diagnostics.append(
                _diag(
                    "MC006",
                    f"the manifest must be a mapping of keys, not a {_kind(node)}",
                    result.file,
                    mark.line + 1,
                    mark.column + 1,
                    hint="start with `manifest: 1` and `name: ...`; `manifestc init` writes a starter",
                )
            )
            return
        walker = _Walker(loader, result)
        data = walker.convert(node, (), 0)
    except yaml.MarkedYAMLError as exc:
        tabs = _tab_lines(text)
        if tabs and "\t" in str(exc):
            for line, col in tabs:
                result.diagnostics.append(
                    _diag("MC004", "tab character in indentation", result.file, line, col, hint="indent with spaces")
                )
            return
        message, line, col, hint = explain_syntax_error(exc, text)
        result.diagnostics.append(_diag("MC003", message, result.file, line, col, hint=hint))
        return
    except yaml.reader.ReaderError as exc:
        _control_character(exc, text, result)
        return
    except yaml.YAMLError as exc:  # unmarked errors (none known; kept so that none can escape)
        result.diagnostics.append(_diag("MC003", str(exc).splitlines()[0], result.file, 1, 1))
        return
    except _Limit as exc:
        result.diagnostics.append(_diag(exc.code, exc.message, result.file, exc.line, exc.col))
        return
    except RecursionError:
        result.diagnostics.append(_diag("MC009", "the manifest nests too deeply", result.file, 1, 1))
        return
    if not walker.errors:
        result.data = data
    result.diagnostics.extend(walker.errors)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _previous_content_line(lines: list[str], index: int) -> int | None:
    """The index of the nearest line above `index` that holds more than blanks or a comment."""
    for i in range(min(index, len(lines)) - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#"):
            return i
    return None


def explain_syntax_error(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, int, int, str | None]:
    """PyYAML's parser message as (plain message, line, column, hint), at the line to fix.

    PyYAML reports where it gave up, which is often a line after the mistake (an unclosed quote is
    reported at the end of the file, a missing colon at the next key); the common mistakes are
    recognised here and pointed at where they are.
    """
    lines = text.split("\n")
    problem, context = exc.problem or "", exc.context or ""
    pmark, cmark = exc.problem_mark, exc.context_mark
    at_problem = (pmark.line + 1, pmark.column + 1) if pmark else (1, 1)
    at_context = (cmark.line + 1, cmark.column + 1) if cmark else at_problem

    def line_text(number: int) -> str:
        return lines[number - 1].strip() if 0 < number <= len(lines) else ""

    if "quoted scalar" in context:
        quote = lines[at_context[0] - 1][at_context[1] - 1 : at_context[1]] if at_context[0] <= len(lines) else '"'
        return (
            f"unclosed quote: the string that starts with {quote} here never ends",
            *at_context,
            (
                f"end the string with a matching {quote} on the same line (inside double quotes, write a literal "
                "\" as \\\"; inside single quotes, write ' as '')"
            ),
        )
    if "flow sequence" in context or "flow mapping" in context:
        opening, closing, what = ("[", "]", "list") if "sequence" in context else ("{", "}", "mapping")
        return (
            f"unclosed `{opening}`: the {what} that starts here is not closed",
            *at_context,
            (
                f"close it with `{closing}` (items are separated by commas); "
                f"or write the {what} in block style, one item per line"
            ),
        )
    if "could not find expected ':'" in problem and "simple key" in context:
        number = at_context[0]
        content = line_text(number)
        if re.match(r"^[-\s]*[\w.-]+:\S", content):
            key = content.split(":", 1)[0].lstrip("- ")
            return (
                f"missing space after the colon in `{content}`",
                *at_context,
                f"write `{key}: {content.split(':', 1)[1]}`: YAML needs a space after the colon",
            )
        return (
            f"line {number} is not `key: value`: `{content}` has no colon",
            *at_context,
            "add a colon and a space after the key (`name: value`), or make the line a list item (`- value`)",
        )
    if "mapping values are not allowed here" in problem:
        number = at_problem[0]
        content = line_text(number)
        before = _previous_content_line(lines, number - 1)
        previous = lines[before].strip() if before is not None else ""
        if before is not None and ":" not in previous and not previous.startswith("- "):
            return (
                f"line {before + 1} is not `key: value`: `{previous}` has no colon",
                before + 1,
                _indent(lines[before]) + 1,
                "add a colon and a space after the key (`name: value`)",
            )
        if before is not None and _indent(lines[number - 1]) > _indent(lines[before]):
            return (
                f"bad indentation: `{content}` is indented more than `{previous}`, which already has a value",
                number,
                _indent(lines[number - 1]) + 1,
                (
                    f"indent it like `{previous.split(':', 1)[0]}` ({_indent(lines[before])} spaces) if it is a "
                    "sibling key, or remove the value of the line above if it is meant to hold this one"
                ),
            )
        return (
            f"a value holds `: ` (colon and space): `{content}`",
            *at_problem,
            'quote the value: key: "a: b"',
        )
    if problem.startswith("expected <block end>"):
        number = at_problem[0]
        content = line_text(number)
        parent = at_context[0]
        siblings = [
            _indent(lines[i])
            for i in range(parent, number - 1)
            if lines[i].strip() and not lines[i].strip().startswith("#")
        ]
        levels = sorted(set(siblings)) or [_indent(lines[parent - 1])]
        if content.startswith("-"):
            return (
                f"a list item where a key is expected: `{content}`",
                number,
                _indent(lines[number - 1]) + 1,
                "a list is the value of a key: write `key:` on a line of its own and indent the items under it",
            )
        spaces = _indent(lines[number - 1])
        return (
            (
                f"bad indentation: `{content}` is indented {spaces} space{'' if spaces == 1 else 's'}, "
                "which matches no enclosing level"
            ),
            number,
            _indent(lines[number - 1]) + 1,
            (
                f"indent it like the keys it belongs with ({', '.join(str(n) for n in levels)} spaces nearby); "
                "YAML nests by indentation, so every key of one mapping starts in the same column"
            ),
        )
    message = problem or context or "invalid YAML"
    return (
        f"YAML syntax error: {message}",
        *at_problem,
        "the mistake is often just before this point: an unclosed quote or bracket, a missing colon, a bad indent",
    )


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "list"
    if isinstance(node, yaml.ScalarNode):
        return "scalar value" if node.value else "null value"
    return "mapping"


_BAD_KEY = object()


class _Walker:
    """Converts composed nodes to Python data, counting nodes (aliases expand) and marking paths."""

    def __init__(self, loader: yaml.SafeLoader, result: LoadResult):
        self.loader = loader
        self.file = result.file
        self.marks = result.marks
        self.nodes = 0  # nodes as written
        self.aliased = 0  # nodes reached again through an alias (or a `<<:` merge of one)
        self.seen: set[int] = set()
        self.errors: list[Diagnostic] = []

    def _mark(self, node: yaml.Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def convert(self, node: yaml.Node, path: Path, depth: int, via_alias: bool = False) -> Any:
        # The composer returns the anchored node itself for an alias, so a node met twice is an
        # alias expansion; it and everything below it count against the alias budget.
        via_alias = via_alias or id(node) in self.seen
        if via_alias:
            self.aliased += 1
            if self.aliased > MAX_ALIAS_NODES:
                line, col = self._mark(node)
                raise _Limit(
                    "MC009",
                    f"aliases expand to more than {MAX_ALIAS_NODES:,} YAML nodes (an alias bomb?)",
                    line,
                    col,
                )
        else:
            self.seen.add(id(node))
            self.nodes += 1
            if self.nodes > MAX_NODES:
                line, col = self._mark(node)
                raise _Limit(
                    "MC009", f"the manifest has more than {MAX_NODES:,} YAML nodes; a manifest is small", line, col
                )
        if depth > MAX_DEPTH:
            line, col = self._mark(node)
            raise _Limit("MC009", f"the manifest nests deeper than {MAX_DEPTH} levels", line, col)
        self.marks.values.setdefault(path, self._mark(node))
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag != _COLLECTION_TAGS[type(node)]:
            line, col = self._mark(node)
            self.errors.append(
                _diag(
                    "MC011",
                    f"unsupported YAML tag {node.tag!r} on a {_kind(node)}",
                    self.file,
                    line,
                    col,
                    hint="remove the tag: manifests are plain YAML (CloudFormation tags such as !Ref do not apply)",
                )
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth, via_alias)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (index,), depth + 1, via_alias) for index, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            line, col = self._mark(node)
            self.errors.append(
                _diag("MC011", f"unsupported YAML tag {node.tag!r}", self.file, line, col, hint=exc.problem)
            )
            return None

    def _key(self, key_node: yaml.ScalarNode) -> Any:
        try:
            return self.loader.construct_object(key_node)
        except yaml.constructor.ConstructorError as exc:
            line, col = self._mark(key_node)
            self.errors.append(
                _diag(
                    "MC011", f"unsupported YAML tag {key_node.tag!r} on a key", self.file, line, col, hint=exc.problem
                )
            )
            return _BAD_KEY

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int, via_alias: bool) -> dict[Any, Any]:
        seen: dict[Any, tuple[int, int]] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = self._mark(key_node)
                self.errors.append(_diag("MC003", "mapping keys must be plain scalars", self.file, line, col))
                return {}
            key = self._key(key_node)
            if key is _BAD_KEY:
                return {}
            if key in seen:
                line, col = self._mark(key_node)
                first = seen[key]
                self.errors.append(
                    _diag(
                        "MC007",
                        f"duplicate key {key!r} (first defined at line {first[0]})",
                        self.file,
                        line,
                        col,
                        hint="keep one of the two entries",
                    )
                )
            else:
                seen[key] = self._mark(key_node)
        self.loader.flatten_mapping(node)  # resolves `<<:` merge keys; explicit keys come last and win
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self._key(key_node)
            if key is _BAD_KEY:
                return {}
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                key = str(key)
            child = path + (key,)
            self.marks.keys.setdefault(child, self._mark(key_node))
            out[key] = self.convert(value_node, child, depth + 1, via_alias)
        return out
