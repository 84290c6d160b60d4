"""Changes to cfn-lint's internals that make it cheaper and change no finding.

Applied once per process, before cfn-lint's rules are built (`lint._rules`). Each replaces code
that recomputes the same value with code that computes it once; none changes what a rule checks.
They rely on cfn-lint internals of the minor version setup.py pins; `check()` refuses to apply them
to code that does not have the shape they were written for (the build then simply runs unpatched,
and tests/test_speed.py fails so the pin is revisited). tests/test_speed.py and
bench/lint_identity.py compare every finding with an unpatched cfn-lint run in another process, on
every golden and example template, manifestc's broken templates and cfn-lint's own test templates
(tests/lint_corpus/cfn-lint/).

1. **Schemas of rules loaded when a rule first uses them.** `CfnLintJsonSchema` rules read their
   JSON schema when the rule object is built; about 45 MiB of them (RDS instance classes by engine,
   EC2 instance types, …) are for resource types a pipeline template never holds. The schema is
   now read on first use of the rule's `_schema`. Same file, same content, read later.
2. **One copy of `Policies.json`.** Two IAM rules (W3037 permissions, I3510 statement resources)
   each parse the 9 MiB IAM action table and only read it; they now share one parse.
3. **Cheaper `evolve`.** Every validation step derives new `Context`, `Validator` and
   `FunctionFilter` records with `evolve`, which asked `dataclasses.fields()` for the class's
   fields on each call (a tenth of the rule run): the fields are now looked up once per class.
   `Context.evolve` (a frozen dataclass without `__post_init__`) copies the init fields directly
   instead of going through the generated `__init__`, with the same `ref_values` merge, and
   keeps the `module_names` it computed from `resources` when `resources` is not changed.

Tried and left out: importing only the parts of sympy cfn-lint uses (sympy's `__init__` is 0.14 s
and 25 MiB of cfn-lint's import) breaks sympy's own lazy imports on templates with conditions
(circular imports that `__init__`'s order resolves); the cfn-lint corpus found it.
"""

from __future__ import annotations

import dataclasses
import functools
import sys

_applied = False


class _Deferred:
    """A schema file not read yet: the arguments `load_resource` was called with."""

    __slots__ = ("args",)

    def __init__(self, *args):
        self.args = args


@functools.cache
def _fields(cls: type) -> tuple:
    return dataclasses.fields(cls)


def _cached_fields(class_or_instance) -> tuple:
    """`dataclasses.fields`, computed once per class."""
    cls = class_or_instance if isinstance(class_or_instance, type) else type(class_or_instance)
    return _fields(cls)


def _modules() -> dict:
    import cfnlint.context.context
    import cfnlint.helpers
    import cfnlint.jsonschema._filter
    import cfnlint.jsonschema.validators
    import cfnlint.rules.jsonschema  # noqa: F401 - loads the CfnLintJsonSchema module

    return {
        "context": cfnlint.context.context,
        "helpers": cfnlint.helpers,
        "filter": cfnlint.jsonschema._filter,
        "validators": cfnlint.jsonschema.validators,
        "schema_rule": sys.modules["cfnlint.rules.jsonschema.CfnLintJsonSchema"],
    }


def check(modules: dict) -> list[str]:
    """What in cfn-lint does not have the shape these changes were written for (empty: all does)."""
    problems = []
    for name in ("context", "filter", "validators"):
        if getattr(modules[name], "fields", None) is not dataclasses.fields:
            problems.append(f"{modules[name].__name__} does not use dataclasses.fields")
    context = getattr(modules["context"], "Context", None)
    params = getattr(context, "__dataclass_params__", None)
    if params is None or not params.frozen or hasattr(context, "__post_init__"):
        problems.append("cfnlint.context.context.Context is not a frozen dataclass without __post_init__")
    elif hasattr(context, "__slots__"):
        problems.append("cfnlint.context.context.Context has __slots__")
    elif not isinstance(vars(context).get("module_names"), functools.cached_property):
        problems.append("cfnlint.context.context.Context.module_names is not a cached_property")
    rule = getattr(modules["schema_rule"], "CfnLintJsonSchema", None)
    if getattr(modules["schema_rule"], "load_resource", None) is not modules["helpers"].load_resource:
        problems.append("CfnLintJsonSchema does not read its schema with cfnlint.helpers.load_resource")
    if rule is None or "_schema" in vars(rule):
        problems.append("CfnLintJsonSchema has a class attribute _schema")
    return problems


def apply() -> bool:
    """Apply the changes once per process; False (and nothing changed) when cfn-lint's shape differs."""
    global _applied
    if _applied:
        return True
    modules = _modules()
    if check(modules):
        return False
    _defer_rule_schemas(modules["schema_rule"], modules["helpers"].load_resource)
    _share_policies(modules["helpers"])
    for name in ("context", "filter", "validators"):
        modules[name].fields = _cached_fields
    _fast_context_evolve(modules["context"].Context)
    _applied = True
    return True


def _defer_rule_schemas(module, load_resource) -> None:
    def deferred(package, filename="us-east-1.json"):
        return _Deferred(package, filename)

    def get(self):
        value = self.__dict__.get("_manifestc_schema")
        if type(value) is _Deferred:
            value = self.__dict__["_manifestc_schema"] = load_resource(*value.args)
        return value

    def put(self, value):
        self.__dict__["_manifestc_schema"] = value

    module.load_resource = deferred
    module.CfnLintJsonSchema._schema = property(get, put)


_SHARED = ("Policies.json",)  # tables the rules that load them only read


def _share_policies(helpers) -> None:
    original = helpers.load_resource
    loaded: dict = {}

    @functools.wraps(original)
    def load_resource(package, filename="us-east-1.json"):
        if filename not in _SHARED:
            return original(package, filename)
        key = (getattr(package, "__name__", package), filename)
        if key not in loaded:
            loaded[key] = original(package, filename)
        return loaded[key]

    helpers.load_resource = load_resource  # rule files bind it when cfn-lint executes them


def _fast_context_evolve(context_class) -> None:
    names = tuple(f.name for f in dataclasses.fields(context_class) if f.init)
    known = frozenset(names)
    derived = "module_names"

    def evolve(self, **kwargs):
        """Create a new context without merging together attributes"""
        if "ref_values" in kwargs:
            new_ref_values = self.ref_values.copy()
            new_ref_values.update(kwargs["ref_values"])
            kwargs["ref_values"] = new_ref_values
        if not known.issuperset(kwargs):
            raise TypeError(f"evolve() got unexpected keyword arguments {sorted(set(kwargs) - known)}")
        values = self.__dict__
        new = object.__new__(type(self))
        target = new.__dict__
        for name in names:
            target[name] = kwargs[name] if name in kwargs else values[name]
        if derived in values and "resources" not in kwargs:
            target[derived] = values[derived]  # a cached_property of `resources` alone
        return new

    context_class.evolve = evolve
