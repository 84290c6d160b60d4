"""Rendering with libyaml's emitter (render.FAST_SAFE_DUMPER) writes the same bytes as PyYAML's
pure-Python emitter: checked on every golden template (the goldens themselves were written before
the switch and still compare byte for byte in test_golden.py)."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT
from manifestc import render

GOLDEN_TEMPLATES = sorted((ROOT / "tests" / "golden").glob("*/expected/**/*.yaml"))


class _Pure(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


_Pure.add_representer(str, render._str)


def test_the_fast_emitter_is_libyaml_when_pyyaml_has_it():
    assert render.FAST_SAFE_DUMPER is (yaml.CSafeDumper if yaml.__with_libyaml__ else yaml.SafeDumper)


@pytest.mark.parametrize("path", GOLDEN_TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "tests" / "golden")))
def test_fast_and_pure_emitters_write_the_same_bytes(path):
    data = yaml.safe_load(path.read_text())
    pure = yaml.dump(data, Dumper=_Pure, sort_keys=False, default_flow_style=False, width=120, allow_unicode=True)
    assert render.render(data, "yaml").decode("utf-8") == pure
