"""`manifestc lsp`: a language server (stdio) for manifests, on pygls (the optional `lsp` extra).

Diagnostics are the compiler's own (load, schema and semantic checks: MC codes with their hints,
not only the JSON Schema), published on open and on every change; hover shows a field's
description from the schema (and its allowed values); completion offers the keys a mapping may
hold and the allowed values of an enum field.
"""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__
from .diagnostics import Diagnostic, Severity
from .load import load_bytes
from .schemas_data import manifest_schema
from .semantics import build_model
from .validate import validate_document

SERVER = LanguageServer("manifestc", __version__)
_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}
_KEY = re.compile(r"^(?P<indent>\s*(?:-\s+)*)(?P<key>[A-Za-z_][\w.-]*)\s*:")


def check_text(text: str, file: str) -> list[Diagnostic]:
    """The diagnostics `manifestc validate` gives for `text` (load, schema, semantics)."""
    loaded = load_bytes(text.encode("utf-8"), file)
    found = list(loaded.diagnostics)
    if loaded.data is None:
        return found
    validated = validate_document(loaded.data, loaded.marks, file)
    found += validated.diagnostics
    if validated.document is not None:
        found += build_model(validated.document, loaded.marks, file, loaded.digest)[1]
    return found


def to_lsp(diagnostic: Diagnostic) -> types.Diagnostic:
    line, col = max(diagnostic.line - 1, 0), max(diagnostic.col - 1, 0)
    message = diagnostic.message + (f"\nhint: {diagnostic.hint}" if diagnostic.hint else "")
    return types.Diagnostic(
        range=types.Range(start=types.Position(line, col), end=types.Position(line, col + 1)),
        message=message,
        severity=_SEVERITY[diagnostic.severity],
        code=diagnostic.code,
        source="manifestc",
    )


def key_path(lines: list[str], line: int) -> list[str]:
    """The keys leading to the key on `line` (list items are looked through)."""
    path: list[str] = []
    match = _KEY.match(lines[line]) if line < len(lines) else None
    if match is None:
        return path
    path.append(match["key"])
    indent = len(match["indent"])
    for number in range(line - 1, -1, -1):
        above = _KEY.match(lines[number])
        if above and len(above["indent"]) < indent:
            path.insert(0, above["key"])
            indent = len(above["indent"])
        elif lines[number].strip().startswith("- ") and len(lines[number]) - len(lines[number].lstrip()) < indent:
            indent = len(lines[number]) - len(lines[number].lstrip())
    return path


def rules_at(path: list[str]) -> dict[str, Any] | None:
    """Cerberus rules of the field at `path` (list items looked through), or None."""
    schema: Any = manifest_schema()
    rules = None
    for key in path:
        if not isinstance(schema, dict) or key not in schema:
            return None
        rules = schema[key]
        inner = rules.get("schema")
        if isinstance(inner, dict) and inner.get("type") == "dict":
            inner = inner.get("schema")
        schema = inner
    return rules


def _publish(server: LanguageServer, uri: str) -> None:
    document = server.workspace.get_text_document(uri)
    found = [to_lsp(d) for d in check_text(document.source, uri.rsplit("/", 1)[-1])]
    server.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, diagnostics=found, version=document.version)
    )


@SERVER.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(server: LanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    _publish(server, params.text_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(server: LanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    _publish(server, params.text_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_HOVER)
def hover(server: LanguageServer, params: types.HoverParams) -> types.Hover | None:
    lines = server.workspace.get_text_document(params.text_document.uri).source.split("\n")
    path = key_path(lines, params.position.line)
    rules = rules_at(path) if path else None
    if rules is None:
        return None
    text = f"**{'.'.join(path)}**"
    description = (rules.get("meta") or {}).get("description")
    if description:
        text += f"\n\n{description}"
    if "allowed" in rules:
        text += "\n\nallowed: " + ", ".join(f"`{v}`" for v in rules["allowed"])
    if "default" in rules and rules["default"] not in (None, [], {}):
        text += f"\n\ndefault: `{rules['default']}`"
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))


@SERVER.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[":", " "]))
def completion(server: LanguageServer, params: types.CompletionParams) -> types.CompletionList:
    lines = server.workspace.get_text_document(params.text_document.uri).source.split("\n")
    line = lines[params.position.line] if params.position.line < len(lines) else ""
    items: list[types.CompletionItem] = []
    if _KEY.match(line[: params.position.character]):  # after `key:`: the field's allowed values
        rules = rules_at(key_path(lines, params.position.line)) or {}
        allowed = rules.get("allowed") or (rules.get("schema") or {}).get("allowed") or []
        items = [types.CompletionItem(label=str(v), kind=types.CompletionItemKind.EnumMember) for v in allowed]
    else:  # a key: those the enclosing mapping may hold
        indent = len(line) - len(line.lstrip(" -"))
        probe = lines[: params.position.line] + [" " * indent + "x:"]
        parent = key_path(probe, len(probe) - 1)[:-1]
        schema = manifest_schema() if not parent else _mapping_schema(rules_at(parent))
        for key, rules in sorted((schema or {}).items()):
            detail = (rules.get("meta") or {}).get("description")
            items.append(types.CompletionItem(label=key, kind=types.CompletionItemKind.Field, detail=detail))
    return types.CompletionList(is_incomplete=False, items=items)


def _mapping_schema(rules: dict[str, Any] | None) -> dict[str, Any] | None:
    if not rules:
        return None
    inner = rules.get("schema")
    if isinstance(inner, dict) and inner.get("type") == "dict":
        inner = inner.get("schema")
    return inner if isinstance(inner, dict) and "type" not in inner else None


def serve() -> None:
    """Run the server on stdin/stdout."""
    SERVER.start_io()
