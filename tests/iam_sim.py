"""A small IAM policy evaluator for tests: explicit deny wins, then any allow, else implicit deny.

Enough of the IAM evaluation logic (IAM User Guide, "Policy evaluation logic") to check the claims
the README makes about the emitted roles: wildcard matching of actions and resources, NotResource,
and the condition operators the compiler emits (String/Arn Equals/Like and their negations; a
negated operator matches when the key is absent; Null; ForAnyValue/ForAllValues over multivalued keys). Fn::Sub values are resolved with fixed
pseudo-parameters and the given resource attributes.
"""

from __future__ import annotations

import fnmatch
import re

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::AccountId": "111111111111",
    "AWS::Region": "us-east-1",
    "AWS::URLSuffix": "amazonaws.com",
}


def resolve(value, attributes: dict[str, str] | None = None):
    """A template value with intrinsic functions replaced by concrete strings."""
    attributes = attributes or {}
    if isinstance(value, list):
        return [resolve(v, attributes) for v in value]
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            text, local = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
            names = {**PSEUDO, **attributes, **{k: str(resolve(v, attributes)) for k, v in local.items()}}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: names.get(m.group(1), "UNRESOLVED-" + m.group(1)), text)
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return attributes.get(f"{logical_id}.{attribute}", f"UNRESOLVED-{logical_id}.{attribute}")
        if "Ref" in value:
            return attributes.get(value["Ref"], PSEUDO.get(value["Ref"], "UNRESOLVED-" + value["Ref"]))
        if "Fn::ImportValue" in value:
            return attributes.get("ImportValue", "UNRESOLVED-import")
        return {k: resolve(v, attributes) for k, v in value.items()}
    return value


def _list(value) -> list:
    return value if isinstance(value, list) else [value]


def _condition_holds(operator: str, key: str, expected, context: dict[str, str]) -> bool:
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        # multivalued keys: any (all) of the request's values must match; an absent key matches
        # nothing for ForAnyValue and everything for ForAllValues
        qualifier, base = operator.split(":", 1)
        values = context.get(key)
        if values is None:
            return qualifier == "ForAllValues"
        results = [_condition_holds(base, key, expected, {key: v}) for v in _list(values)]
        return any(results) if qualifier == "ForAnyValue" else all(results)
    actual = context.get(key)
    if operator == "Null":  # "true": the key is absent; "false": it is present
        return (actual is None) == (str(expected).lower() == "true")
    negated = "Not" in operator
    if_exists = operator.endswith("IfExists")
    if actual is None:
        return negated or if_exists
    base = operator.replace("IfExists", "").replace("Not", "")
    wanted = [str(v) for v in _list(expected)]
    if base in ("StringEquals", "ArnEquals"):
        hit = actual in wanted
    elif base in ("StringLike", "ArnLike"):
        hit = any(fnmatch.fnmatchcase(actual, w) for w in wanted)
    elif base == "Bool":
        hit = actual.lower() in [w.lower() for w in wanted]
    else:
        raise AssertionError(f"operator {operator} not modelled")
    return not hit if negated else hit


def _statement_applies(statement: dict, action: str, resource: str, context: dict[str, str]) -> bool:
    actions = _list(statement.get("Action", []))
    if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions):
        return False
    if "NotResource" in statement:
        if any(fnmatch.fnmatchcase(resource, r) for r in _list(statement["NotResource"])):
            return False
    elif not any(fnmatch.fnmatchcase(resource, r) for r in _list(statement.get("Resource", []))):
        return False
    for operator, block in statement.get("Condition", {}).items():
        for key, expected in block.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def allowed(statements: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Does this set of (resolved) statements allow `action` on `resource` in `context`?"""
    context = context or {}
    if any(s.get("Effect") == "Deny" and _statement_applies(s, action, resource, context) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _statement_applies(s, action, resource, context) for s in statements)


def effective(identity: list[dict], boundary: list[dict] | None, action: str, resource: str, context=None) -> bool:
    """Identity policy within a permissions boundary: both must allow."""
    if not allowed(identity, action, resource, context):
        return False
    return boundary is None or allowed(boundary, action, resource, context)


def denied(statements: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Does an explicit Deny of these (resolved) statements apply? For resource policies (a bucket or
    key policy), whose Allow statements name other principals than the caller."""
    context = context or {}
    return any(s.get("Effect") == "Deny" and _statement_applies(s, action, resource, context) for s in statements)
