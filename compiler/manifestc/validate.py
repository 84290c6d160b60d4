"""Validate phase: the cerberus schema in schemas/ checks types and fills every default.

Cerberus errors carry document paths; they are turned into located diagnostics here, with
did-you-mean hints for unknown keys and disallowed values.
"""

from __future__ import annotations

import copy
import difflib
import functools
from dataclasses import dataclass, field
from typing import Any

import cerberus
import cerberus.schema
from cerberus import errors as cerr

from .diagnostics import Diagnostic, Marks, Path, at
from .schemas_data import manifest_schema
from .validate_legacy import legacy_commands_permissions


class _ManifestValidator(cerberus.Validator):
    """Cerberus with the custom rules the schema data uses (`meta`, the coercers)."""

    def _validate_meta(self, meta, field, value):  # documentation only (cerberus accepts `meta` too)
        """{'type': 'dict'}"""

    def _normalize_coerce_flag_mapping(self, value):
        if isinstance(value, bool):
            return {"enabled": value}
        return value

    def _normalize_coerce_to_text(self, value):
        # YAML reads `runtime: 3.10` as the float 3.1 and `account: 0123...` as an int; an account
        # or version is text, so numbers are taken as written. Floats lose trailing zeros, which
        # is why the README asks for quotes; bools and others are left for the type check.
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            return str(value)
        return value


@dataclass
class ValidateResult:
    document: dict[str, Any] | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


class _ShippedSchema(cerberus.schema.DefinitionSchema):
    """The manifest schema as shipped: not re-checked against cerberus's meta-schema at run time.

    That check costs about a third of `validate`; the shipped schema cannot change after release,
    so tests/test_validate.py runs it (`check_shipped_schema`) instead of every process.
    """

    def validate(self, schema=None):
        pass


@functools.cache
def _validator() -> _ManifestValidator:
    validator = _ManifestValidator(allow_unknown=False)
    validator.schema = _ShippedSchema(validator, manifest_schema())
    return validator


def check_shipped_schema(schema: dict[str, Any] | None = None) -> None:
    """Check a schema (default: the shipped one) against cerberus's meta-schema.

    Raises:
        cerberus.SchemaError: the schema uses an unknown rule or a rule wrongly.
    """
    cerberus.schema.DefinitionSchema(_ManifestValidator(), copy.deepcopy(schema or manifest_schema()))


def validate_document(data: Any, marks: Marks, file: str) -> ValidateResult:
    """Check `data` against the manifest schema and return the normalised document."""
    early: list[Diagnostic] = []
    flagged: list[Path] = []
    data = _precheck(data, {"type": "dict", "schema": manifest_schema()}, (), marks, file, early, flagged)
    data = legacy_commands_permissions(data, marks, file, early)
    validator = _validator()
    ok = validator.validate(data, normalize=True)
    if ok and not early:
        return ValidateResult(validator.document)
    diagnostics = list(early)
    for error in _leaves(validator._errors):
        if any(tuple(error.document_path)[: len(p)] == p for p in flagged):
            continue  # already reported, in plainer words, by the pre-check
        diagnostic = _to_diagnostic(error, data, marks, file)
        if diagnostic is not None:
            diagnostics.append(diagnostic)
    diagnostics.sort(key=lambda d: (d.line, d.col, d.code))
    return ValidateResult(None, _dedupe(diagnostics))


def _types(rules: dict[str, Any]) -> set[str]:
    kind = rules.get("type")
    return {kind} if isinstance(kind, str) else set(kind or ())


def _precheck(
    value: Any,
    rules: Any,
    path: Path,
    marks: Marks,
    file: str,
    found: list[Diagnostic],
    flagged: list[Path],
) -> Any:
    """What cerberus cannot be given: keys that are not text, mappings where a list belongs.

    Cerberus sorts its errors by document path (a float key beside a None key raises TypeError)
    and normalises a mapping given to a list field as if the item rules were a mapping schema
    (`quality_gates: {type: lint}` raises TypeError). Both are reported here in the manifest's
    terms and replaced in a copy, so cerberus still reports every other mistake in the same run.
    """
    if not isinstance(rules, dict):
        return value
    types = _types(rules)
    if isinstance(value, dict):
        if types == {"list"}:
            found.append(at("MC102", "expected a list, got a mapping", path, file, marks))
            flagged.append(path)
            return []
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                kind = _type_name(key)
                message = (
                    "a key is null (`~`, `null` or nothing before the colon); keys are text"
                    if key is None
                    else f"key `{key}` is {'an' if kind == 'integer' else 'a'} {kind}; keys are text"
                )
                hint = "write a name before the colon" if key is None else f'quote it: "{key}"'
                found.append(at("MC109", message, path + (key,), file, marks, hint=hint, at_key=True))
                continue
            schema = rules.get("schema")
            inner = schema.get(key) if isinstance(schema, dict) else rules.get("valuesrules")
            out[key] = _precheck(item, inner, path + (key,), marks, file, found, flagged)
        return out
    if isinstance(value, list) and "list" in types:
        inner = rules.get("schema")
        return [_precheck(item, inner, path + (i,), marks, file, found, flagged) for i, item in enumerate(value)]
    return value


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diagnostics:
        key = (d.code, d.path, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _leaves(errors):
    for error in errors:
        if error.is_group_error and error.child_errors:
            yield from _leaves(error.child_errors)
        elif not error.is_group_error:
            yield error


def _schema_at(path: Path) -> dict[str, Any] | None:
    """The mapping schema (field -> rules) that governs the mapping at `path`."""
    schema: Any = manifest_schema()
    for part in path:
        if isinstance(part, int):
            rules = schema
            schema = rules.get("schema") if isinstance(rules, dict) else None
            if isinstance(schema, dict) and schema.get("type") == "dict":
                schema = schema.get("schema")  # a list of mappings: the item's fields
            continue
        if not isinstance(schema, dict) or part not in schema:
            return None
        rules = schema[part]
        schema = rules.get("schema") if "type" in rules and rules["type"] == "dict" else rules
    if isinstance(schema, dict) and "type" in schema and schema.get("type") == "dict":
        schema = schema.get("schema")
    return schema if isinstance(schema, dict) else None


def _rules_at(path: Path) -> dict[str, Any] | None:
    """The rules of the field at `path` (None when the path leaves the schema)."""
    parent = _schema_at(path[:-1]) if path else None
    if parent is None or not path or isinstance(path[-1], int):
        return None
    return parent.get(path[-1])


def _suggest(word: str, options: list[str]) -> str | None:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return close[0] if close else None


def _type_name(value: Any) -> str:
    return {
        dict: "mapping",
        list: "list",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _to_diagnostic(error: cerberus.errors.ValidationError, data: Any, marks: Marks, file: str) -> Diagnostic | None:
    path: Path = tuple(error.document_path)
    where = ".".join(str(p) for p in path)
    code = error.code
    value = error.value
    if code == cerr.UNKNOWN_FIELD.code:
        siblings = _schema_at(path[:-1]) or {}
        known = sorted(siblings)
        key = path[-1] if path else value
        suggestion = _suggest(str(key), known)
        hint = (
            f"did you mean `{suggestion}`?"
            if suggestion
            else (f"known keys here: {', '.join(known)}" if known else None)
        )
        return at("MC101", f"unknown key `{key}`", path, file, marks, hint=hint, at_key=True)
    if code == cerr.REQUIRED_FIELD.code:
        return at("MC103", f"required field `{path[-1]}` is missing", path, file, marks)
    if code == cerr.NOT_NULLABLE.code:
        return at("MC108", "a value is required here, not null", path, file, marks)
    if code == cerr.BAD_TYPE.code:
        expected = error.constraint if isinstance(error.constraint, str) else " or ".join(error.constraint)
        expected = {
            "dict": "mapping",
            "list": "list",
            "string": "string",
            "integer": "integer",
            "boolean": "boolean (true/false)",
        }.get(expected, expected)
        if (_rules_at(path) or {}).get("coerce") == "flag_mapping":
            expected = "boolean (true/false) or a mapping"
        return at("MC102", f"expected a {expected}, got a {_type_name(value)}", path, file, marks)
    if code == cerr.UNALLOWED_VALUE.code:
        allowed = [str(a) for a in error.constraint]
        suggestion = _suggest(str(value), allowed)
        hint = f"did you mean `{suggestion}`?" if suggestion else None
        return at(
            "MC104", f"`{value}` is not allowed; expected one of: {', '.join(allowed)}", path, file, marks, hint=hint
        )
    if code == cerr.REGEX_MISMATCH.code:
        if "keysrules" in error.schema_path:  # the key is wrong, not the value
            kind = _PATTERNS["env"] if len(path) > 1 and path[-2] in ("env", "secrets", "matrix") else None
            message, hint = (
                (f"`{value}` is not {kind[0]}", kind[1])
                if kind
                else (f"key `{value}` does not match the required pattern {error.constraint}", None)
            )
        else:
            message, hint = _pattern_message(path, value, error.constraint)
        return at("MC105", message, path, file, marks, hint=hint, at_key="keysrules" in error.schema_path)
    if code in (cerr.MIN_VALUE.code, cerr.MAX_VALUE.code):
        bound = "at least" if code == cerr.MIN_VALUE.code else "at most"
        return at("MC106", f"{value} is out of range: must be {bound} {error.constraint}", path, file, marks)
    if code in (cerr.MIN_LENGTH.code, cerr.MAX_LENGTH.code):
        bound = "at least" if code == cerr.MIN_LENGTH.code else "at most"
        unit = "items" if isinstance(value, (list, dict)) else "characters"
        return at(
            "MC106",
            f"length {len(value)} is out of range: must be {bound} {error.constraint} {unit}",
            path,
            file,
            marks,
        )
    message = f"{where}: invalid value" if where else "invalid manifest"
    return at("MC102", message, path, file, marks)


# What a patterned field holds, said the way its author thinks of it, and an example.
_IAM_PRINCIPAL = ("an IAM role, user or group ARN", "arn:aws:iam::123456789012:role/ReleaseManagers")
_ACCOUNT = ("a 12-digit AWS account id", 'quote it: "123456789012"')
_VERSION = ("a semantic version MAJOR.MINOR.PATCH", "for example 1.2.0")
_BUCKET = ("an S3 bucket name", "lowercase letters, digits, dots and dashes, 3-63 characters")
_PATTERNS: dict[str, tuple[str, str]] = {
    "name": ("a valid name", "lowercase letters, digits and dashes; start with a letter, end with a letter or digit"),
    "team": ("a valid team name", "letters, digits, spaces and _ . : / = + @ -, starting with a letter or digit"),
    "account": _ACCOUNT,
    "share_with": _ACCOUNT,
    "domain_owner": _ACCOUNT,
    "region": ("an AWS region code", "for example eu-west-1"),
    "regions": ("an AWS region code", "for example eu-west-1"),
    "branch": ("a valid git branch name", "no spaces or ~ ^ : ? * [ \\"),
    "secrets": ("a secret reference", "secretsmanager:<name>[:<json-key>] or ssm:<parameter path>"),
    "env": ("an environment variable name", "letters, digits and _, not starting with a digit"),
    "execution_role": ("an IAM role ARN", "arn:aws:iam::123456789012:role/Name"),
    "execution_policies": ("a managed policy ARN", "arn:aws:iam::aws:policy/PowerUserAccess"),
    "approvers": _IAM_PRINCIPAL,
    "principals": _IAM_PRINCIPAL,
    "connection_arn": ("a CodeStar connection ARN", "arn:aws:codestar-connections:<region>:<account>:connection/<id>"),
    "notify": ("an SNS topic ARN", "arn:aws:sns:<region>:<account>:<name>"),
    "sns_topic": ("an SNS topic ARN", "arn:aws:sns:<region>:<account>:<name>"),
    "slack_channel": (
        "an AWS Chatbot Slack channel ARN",
        "arn:aws:chatbot::<account>:chat-configuration/slack-channel/<name>",
    ),
    "image_repository": ("an ECR repository name", "for example team/service"),
    "vpc_id": ("a VPC id", "vpc- and 8 or 17 hex digits"),
    "subnets": ("a subnet id", "subnet- and 8 or 17 hex digits"),
    "security_groups": ("a security group id", "sg- and 8 or 17 hex digits"),
    "route_tables": ("a route table id", "rtb- and 8 or 17 hex digits"),
    "version": _VERSION,
    "keep_versions": _VERSION,
    "bucket": _BUCKET,
    "scripts_bucket": _BUCKET,
    "s3": ("an S3 path", "s3://bucket/prefix/"),
    "script": ("a script path", "a .py or .scala file in the build artifact, e.g. etl/job.py"),
    "domain": ("a CodeArtifact domain name", "lowercase letters, digits and dashes"),
}


def _pattern_message(path: Path, value: Any, pattern: str) -> tuple[str, str | None]:
    """`value is not <what>`, with an example, for fields whose pattern has a plain meaning."""
    for part in reversed(path):
        if isinstance(part, str) and part in _PATTERNS:
            what, example = _PATTERNS[part]
            return f"`{value}` is not {what}", example
    return f"`{value}` does not match the required pattern {pattern}", None
