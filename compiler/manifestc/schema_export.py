"""The manifest's cerberus schema as JSON Schema (draft 2020-12), for editors and `manifestc schema`."""

from __future__ import annotations

from typing import Any

from .schemas_data import manifest_schema

_TYPES = {
    "string": "string",
    "integer": "integer",
    "boolean": "boolean",
    "dict": "object",
    "list": "array",
    "float": "number",
    "number": "number",
}


def _field(rules: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    description = rules.get("meta", {}).get("description")
    if description:
        out["description"] = description
    kind = rules.get("type")
    types = []
    if isinstance(kind, list):
        types.extend(_TYPES[k] for k in kind)
        kind = None
    elif kind:
        types.append(_TYPES[kind])
    if rules.get("coerce") == "flag_mapping":
        types.append("boolean")
    if rules.get("coerce") == "to_text":
        types.extend(["number", "integer"])
    if rules.get("nullable"):
        types.append("null")
    if types:
        out["type"] = types[0] if len(types) == 1 else types
    if "allowed" in rules:
        out["enum"] = list(rules["allowed"])
    if "regex" in rules:
        out["pattern"] = rules["regex"]
    if "min" in rules:
        out["minimum"] = rules["min"]
    if "max" in rules:
        out["maximum"] = rules["max"]
    length_keys = ("minItems", "maxItems") if kind == "list" else ("minLength", "maxLength")
    if "minlength" in rules:
        out[length_keys[0]] = rules["minlength"]
    if "maxlength" in rules:
        out[length_keys[1]] = rules["maxlength"]
    if "default" in rules and rules["default"] is not None:
        out["default"] = rules["default"]
    if kind == "dict" and "schema" in rules:
        out.update({k: v for k, v in _object(rules["schema"]).items() if k != "type"})
    if kind == "dict" and "valuesrules" in rules:
        out["additionalProperties"] = _field(rules["valuesrules"])
        if "keysrules" in rules and "regex" in rules["keysrules"]:
            out["propertyNames"] = {"pattern": rules["keysrules"]["regex"]}
    if kind == "list" and "schema" in rules:
        item = rules["schema"]
        out["items"] = _field(item) if "type" in item else _object(item)
    return out


def _object(schema: dict[str, Any]) -> dict[str, Any]:
    properties = {key: _field(rules) for key, rules in schema.items()}
    required = [key for key, rules in schema.items() if rules.get("required")]
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    return out


def json_schema() -> dict[str, Any]:
    """JSON Schema of manifest v1, generated from the same data the validator uses."""
    root = _object(manifest_schema())
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://manifestc.dev/schema/manifest.v1.json",
        "title": "manifestc pipeline manifest v1",
        **root,
    }
