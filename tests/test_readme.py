"""The README's manifest reference names every field of the schema (an undocumented field doesn't exist)."""

from __future__ import annotations

from conftest import ROOT
from manifestc.schemas_data import manifest_schema


def _fields(schema: dict, out: set[str]) -> set[str]:
    for key, rules in schema.items():
        out.add(key)
        inner = rules.get("schema")
        if isinstance(inner, dict):
            if inner.get("type") == "dict" and isinstance(inner.get("schema"), dict):
                _fields(inner["schema"], out)
            elif "type" not in inner:
                _fields(inner, out)
    return out


def test_every_schema_field_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = sorted(f for f in _fields(manifest_schema(), set()) if f"`{f}`" not in readme and f".{f}`" not in readme)
    assert missing == []


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert "manifestc build manifests/" in block
    assert "pip install -e '.[test]' && python -m pytest" in block
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && python -m pytest" in ci


def _sh_blocks(readme: str) -> list[str]:
    return [part.split("```", 1)[0] for part in readme.split("```sh")[1:]]


def test_quick_start_uses_a_virtualenv_the_python_version_and_init():
    readme = (ROOT / "README.md").read_text()
    first, second = _sh_blocks(readme)[:2]
    assert "python3 -m venv .venv && . .venv/bin/activate" in first
    assert "Python >= 3.11" in first
    assert 'python_requires=">=3.11"' in (ROOT / "setup.py").read_text()
    assert "manifestc init" in second and "manifestc build" in second


def test_no_references_a_user_cannot_follow():
    readme = (ROOT / "README.md").read_text()
    assert "SPEC §" not in readme
    assert "ten-line" not in readme  # no example manifest is ten lines


def _recipe_manifests() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Recipes: well-known setups", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```yaml")[1:] if "manifest: 1" in block]


def test_recipe_manifests_compile_clean_with_lint(tmp_path):
    from manifestc.api import compile_manifest

    recipes = _recipe_manifests()
    assert len(recipes) >= 2
    for index, text in enumerate(recipes):
        path = tmp_path / f"recipe{index}.yaml"
        path.write_text(text)
        result = compile_manifest(path)
        assert [str(d) for d in result.diagnostics if d.is_error] == [], text
        assert result.artifacts


def test_sam_recipe_is_the_bundled_example():
    bundled = (ROOT / "manifests" / "sam-app.yaml").read_text()
    body = "\n".join(line for line in bundled.splitlines() if not line.startswith("#")).strip()
    assert body in [recipe.strip() for recipe in _recipe_manifests()]
