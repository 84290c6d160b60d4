"""`manifestc lsp`, driven by pygls' LSP client over stdio in a subprocess: the compiler's own
diagnostics (MC codes, semantic checks) on open and on change, hover docs from the schema, and
completion of keys and enum values."""

from __future__ import annotations

import asyncio
import sys

import pytest
from conftest import MINIMAL

pytest.importorskip("pygls")
from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

URI = "file:///work/manifest.yaml"


async def _session(steps):
    client = LanguageClient("manifestc-test", "1")
    published: asyncio.Queue = asyncio.Queue()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _diagnostics(params):
        published.put_nowait(params)

    # what the manifestc command runs (cli.run: the exit without the interpreter's teardown)
    await client.start_io(sys.executable, "-c", "from manifestc.cli import run; run()", "lsp")
    try:
        await client.initialize_async(
            types.InitializeParams(capabilities=types.ClientCapabilities(), process_id=None, root_uri=None)
        )
        client.initialized(types.InitializedParams())
        result = await asyncio.wait_for(steps(client, published), timeout=120)
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        # the server process (pygls keeps it as `_server`): it ends on exit
        await asyncio.wait_for(client._server.wait(), timeout=30)
        exit_status = client._server.returncode
        await client.stop()
    assert exit_status == 0  # a shutdown then exit ends the server with status 0 (LSP: 1 without it)
    return result


def run(steps):
    return asyncio.run(_session(steps))


def test_diagnostics_on_open_and_change_are_the_compilers():
    bad = MINIMAL.replace("  - name: staging\n", "  - name: staging\n    targets: [nope]\n")

    async def steps(client, published):
        doc = types.TextDocumentItem(uri=URI, language_id="yaml", version=1, text=bad)
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=doc))
        first = await published.get()
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=MINIMAL)],
            )
        )
        second = await published.get()
        return first, second

    first, second = run(steps)
    (diagnostic,) = first.diagnostics
    assert diagnostic.code == "MC201" and diagnostic.source == "manifestc"  # a semantic check
    assert diagnostic.range.start.line == 11  # `targets: [nope]` is line 12
    assert "unknown target `nope`" in diagnostic.message
    assert list(second.diagnostics) == [] and second.version == 2


def test_hover_shows_the_schema_description_and_completion_offers_enums_and_keys():
    text = MINIMAL + "quality_gates: [lint]\nbuild:\n  compute: \n  \n"
    lines = text.split("\n")
    compute_line = lines.index("  compute: ")

    async def steps(client, published):
        doc = types.TextDocumentItem(uri=URI, language_id="yaml", version=1, text=text)
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=doc))
        await published.get()
        ident = types.TextDocumentIdentifier(uri=URI)
        hover = await client.text_document_hover_async(
            types.HoverParams(text_document=ident, position=types.Position(line=3, character=2))
        )
        values = await client.text_document_completion_async(
            types.CompletionParams(text_document=ident, position=types.Position(line=compute_line, character=11))
        )
        keys = await client.text_document_completion_async(
            types.CompletionParams(text_document=ident, position=types.Position(line=compute_line + 1, character=2))
        )
        return hover, values, keys

    hover, values, keys = run(steps)
    assert "**language**" in hover.contents.value and "preset" in hover.contents.value.lower()
    assert {"small", "large"} <= {item.label for item in values.items}
    assert {"compute", "commands", "env", "secrets"} <= {item.label for item in keys.items}
    assert "manifest" not in {item.label for item in keys.items}  # build's keys, not the top level
