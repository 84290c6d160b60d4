"""Schema phase: defaults fill the document; every error is located, coded and hinted."""

from __future__ import annotations

from conftest import MINIMAL, with_changes
from manifestc.load import load_bytes
from manifestc.validate import validate_document


def run(text: str):
    loaded = load_bytes(text.encode(), "m.yaml")
    assert loaded.data is not None, loaded.diagnostics
    return validate_document(loaded.data, loaded.marks, "m.yaml")


def test_defaults_make_the_document_complete():
    doc = run(MINIMAL).document
    assert doc["source"]["branch"] == "main"
    assert doc["source"]["provider"] == "codecommit"
    assert doc["build"]["compute"] == "small"
    assert doc["build"]["timeout"] == 60
    assert doc["regenerate"] == {"enabled": True, "install": None, "path": None}
    assert doc["environments"][0]["approval"] == {
        "enabled": False,
        "approvers": [],
        "notify": None,
        "timeout_minutes": None,
        "notify_emails": [],
    }
    assert doc["targets"][0]["stack"] == "{name}-{environment}"
    assert doc["targets"][0]["change_set"] is True


def test_approval_and_regenerate_accept_booleans():
    doc = run(with_changes(environments=[{"name": "prod", "approval": True}], regenerate=False)).document
    assert doc["environments"][0]["approval"]["enabled"] is True
    assert doc["regenerate"]["enabled"] is False


def test_unknown_key_points_at_the_key_with_did_you_mean():
    text = MINIMAL + "buld:\n  compute: small\n"
    result = run(text)
    [diag] = result.diagnostics
    assert (diag.code, diag.line, diag.col) == ("MC101", 12, 1)
    assert diag.hint == "did you mean `build`?"


def test_nested_unknown_key():
    result = run(MINIMAL.replace("  repository: demo-service\n", "  repository: demo-service\n  brnch: dev\n"))
    [diag] = result.diagnostics
    assert diag.code == "MC101" and diag.path == ("source", "brnch") and diag.line == 7
    assert "branch" in diag.hint


def test_unknown_key_inside_a_list_item_lists_the_keys_known_there():
    # found by a first-time user: a mapping inside a list item got no hint at all
    result = run(with_changes(tests=[{"name": "unit", "permissions": {"dynamodb": ["arn:aws:dynamodb:::table/t"]}}]))
    [diag] = result.diagnostics
    assert diag.code == "MC101" and diag.path == ("tests", 0, "permissions", "dynamodb")
    assert diag.hint == "known keys here: allow_broad, managed_policies, statements"
    [diag] = run(with_changes(environments=[{"name": "prod", "approval": {"aprovers": []}}])).diagnostics
    assert diag.path == ("environments", 0, "approval", "aprovers") and diag.hint == "did you mean `approvers`?"


def test_all_errors_of_the_phase_are_reported_together():
    text = with_changes(name="Bad_Name", build={"compute": "huge", "timeout": 1000}, extra=1)
    codes = sorted(d.code for d in run(text).diagnostics)
    assert codes == ["MC101", "MC104", "MC105", "MC106"]


def test_enum_did_you_mean():
    [diag] = run(with_changes(build={"compute": "smal"})).diagnostics
    assert diag.code == "MC104" and diag.hint == "did you mean `small`?"
    assert "small" in diag.message and "2xlarge" in diag.message


def test_wrong_type_says_what_was_expected():
    [diag] = run(with_changes(tests="unit")).diagnostics
    assert diag.code == "MC102" and "expected a list" in diag.message


def test_required_fields():
    codes = {(d.code, d.path) for d in run(with_changes(team=None, source=None)).diagnostics}
    assert codes == {("MC103", ("team",)), ("MC103", ("source",))}


def test_every_target_type_the_schema_allows_is_compiled(write_manifest):
    """No type is accepted by the schema and then ignored: each is compiled (a servicecatalog target,
    once MC107, needs its own fields now), and a type the schema does not list is MC104."""
    from manifestc.api import check_manifest
    from manifestc.schemas_data import manifest_schema
    from manifestc.semantics import SUPPORTED_TARGET_TYPES

    allowed = set(manifest_schema()["targets"]["schema"]["schema"]["type"]["allowed"])
    assert allowed == SUPPORTED_TARGET_TYPES
    text = with_changes(targets=[{"name": "app", "type": "servicecatalog"}])
    codes = sorted(d.code for d in check_manifest(write_manifest(text)).diagnostics)
    assert codes == ["MC207", "MC207"]  # product and template
    [diag] = run(with_changes(targets=[{"name": "app", "type": "kubernetes"}])).diagnostics
    assert diag.code == "MC104" and diag.path == ("targets", 0, "type")


def test_secret_references_must_be_references():
    [diag] = run(with_changes(build={"secrets": {"DB": "hunter2"}})).diagnostics
    assert diag.code == "MC105" and diag.path == ("build", "secrets", "DB")
    assert "secretsmanager:" in diag.hint


def test_numbers_written_for_text_fields_are_taken_as_text():
    doc = run(with_changes(runtime=3.11, account=123456789012)).document
    assert doc["runtime"] == "3.11" and doc["account"] == "123456789012"
