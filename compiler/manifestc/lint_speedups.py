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
   each parse the 9 MiB IAM action table and only read it; they now share one parse, the one the
   compiler made already to check the policies it writes (`registry.authorization()`, which only
   reads it too) when it is the same file.
3. **Cheaper `evolve`.** Every validation step derives new `Context`, `Validator` and
   `FunctionFilter` records with `evolve`, which asked `dataclasses.fields()` for the class's
   fields on each call (a tenth of the rule run): the fields are now looked up once per class.
   `Context.evolve` (a frozen dataclass without `__post_init__`) copies the init fields directly
   instead of going through the generated `__init__`, with the same `ref_values` merge, and
   keeps the `module_names` it computed from `resources` when `resources` is not changed.
4. **Validator classes reused.** cfn-lint's `create()` makes a new dataclass for every validator a
   rule extends (about 250 per pipeline template; `@dataclass` compiles its methods with `exec`
   each time). `create` now returns the class it made before for the same arguments: the same
   validator functions (bound methods by their rule and function, since rules compare by id),
   an equal function filter (a dataclass of flags cfn-lint never changes after creating it) and
   the same resolvers; at most 1,024 classes are kept. Those classes also get a `Validator.evolve`
   that sets the fields as the generated `__init__` would (init fields from the arguments or the
   evolved validator, the others from their default factories) and calls `__post_init__`.
5. **E1101 finds its child rules by keyword.** For every property it checks, E1101 (`cfnLint`)
   compared each of its keywords with every keyword of every one of its ~300 child rules. An
   index from keyword to child rules, in the order that loop met them, gives the same rules in
   the same order (rebuilt whenever cfn-lint rewires the child rules to a table of another size).

6. **sympy's import paused where cfn-lint has what it needs** (`import_sympy_in_part`, called
   before cfn-lint is imported). cfn-lint imports sympy for its condition logic (`And`, `Or`, `Not`,
   `Implies`, `Equivalent`, `Symbol`, `Dummy`, `EncodedCNF`, `satisfiable`), which sympy's
   `__init__` defines in its first statements (`sympy.core`, `sympy.logic`, `sympy.assumptions`);
   the rest (polynomials, matrices, printing, … 350 more modules, 0.15 s) is what a template
   without conditions never reaches. `sympy/__init__.py` is run up to its first `from .polys`
   import; the rest of it runs, in the same module, the first time anything asks the `sympy`
   module for a name it does not have yet or imports a sympy module not loaded yet (a template
   with conditions does when it first solves them) or lists its names (`dir`). Either way every
   sympy module is loaded in the order a plain `import sympy` loads it; only when differs. The
   rest runs on the thread that needs it, never under the import system's global lock (a finder
   first on `sys.meta_path` names a loader that runs it); if it fails, the next need runs it
   again and fails again. Only in processes that allow it (`lint.allow_paused_imports()`: the
   command line's, which import from one thread; a library user gets plain imports), and not
   when sympy is already imported, ships without source or its `__init__` does not have that
   shape.

7. **Regular expressions looked up in a dict.** cfn-lint calls the `regex` module's functions
   (`regex.match(pattern, text)`, …) about 11,000 times per pipeline template; each call finds its
   compiled pattern through `regex`'s own cache, whose key building (flag enums, locale and
   named-list checks) costs eight times the match. Those functions now take the compiled pattern
   from a dict keyed by pattern, flags and `regex.DEFAULT_VERSION` — for a `str` pattern that
   `regex` has compiled once already and found not locale-sensitive, called with no other
   arguments; it is the pattern object `regex`'s cache holds for the same key. A compiled pattern
   without flags is used as it is (as `regex` does, after asking the locale each time). Anything
   else goes to `regex` as before.

8. **`$ref` fragments looked up in a list made once per schema.** Resolving `#/definitions/X`
   first searches the whole schema document for a subschema whose `id` (then `$id`) is that
   fragment; cfn-lint makes a new resolver, with empty caches, for every function it validates,
   so the same documents were searched again and again (a fifth of a second per pipeline
   template, profiled). The subschemas that search yields (in its order) are now kept per
   document and keyword, for the 512 documents searched last (cfn-lint's schemas are read once
   and not changed after).

9. **networkx's import paused the same way** (`import_networkx_in_part`). cfn-lint builds each
   template's reference graph with `networkx.MultiDiGraph` and looks for cycles with
   `networkx.find_cycle`; `networkx/__init__.py` loads ~280 modules (generators, readers and
   writers, every algorithm). It is run up to `from networkx import generators` (graph classes,
   conversions, utilities: ~30 modules), and of `networkx.algorithms` only `cycles` and the
   `traversal` package it uses are loaded, their names bound in `networkx` as the rest's
   `from networkx.algorithms import *` binds them; `networkx.algorithms`'s own `__init__` is
   paused before its first statement. The first need (a name or module not loaded yet) runs the
   rest of `networkx/__init__.py`, which runs `networkx.algorithms`'s where a plain import does.
   So `cycles` and `traversal` load before `generators`, unlike a plain import: networkx's
   modules define functions and classes (3.x also records each algorithm in its backend
   dispatcher's table as it loads, so that table lists them in another order; finding a cycle
   does not read it). The final namespaces are a plain import's (tests/test_speed.py). Same
   hooks and conditions as 6. Tested on networkx 2.6 (what checkov pins) and 3.6.

10. **`is_type` answers the common types inline.** cfn-lint asks `Validator.is_type` about 80,000
   times per pipeline template, each time through its type checker's table; for "string",
   "object" and "array" the checker's functions are one `isinstance` test each (`_types.is_string`
   and so on; `check()` makes sure the table still holds exactly those functions, and what they
   test is the code of the cfn-lint minor version setup.py pins), which the validator now runs
   itself when it uses that checker.

11. **`equal` compares two strings directly.** The `enum` keyword compares a value with each
   allowed value through `equal` (25,000 calls per pipeline template), which runs the same
   boolean-word and type tests on every pair. Two strings (`str`, or the decoder's `str_node`,
   which overrides no comparison) are now compared at once: equal strings are equal; unequal ones
   go to `bool_compare` when either is a boolean word, as `equal` would; other pairs go to
   `equal` itself.

12. **Resolvers made without copying wrapper attributes.** cfn-lint makes a new `RefResolver`
   for every function it validates (~1,500 per pipeline template), and each wraps three of its
   functions in `functools.lru_cache`, which copies name, docstring and attributes onto every
   wrapper. They now get the same C cache (`functools._lru_cache_wrapper`, 1,024 entries, what
   `lru_cache` builds) without the copying, and the cache of `urljoin`, a pure function, is one
   for all resolvers.

13. **The `if` that asks whether a transform is declared, answered directly** (`_transform_if`):
   every `Ref`, `Fn::GetAtt`, `Fn::FindInMap` and `Fn::Select` cfn-lint checks first validates
   its value against `{dynamicValidation: {transformCheck: AWS::LanguageExtensions}}` to choose
   between two schemas (~850 times a pipeline template, ~10 ms). For a string value without a
   dynamic reference (and not a bare pseudo-parameter name) that validation yields an error
   exactly when the transform is not declared, so the branch is chosen from that test; the
   branch itself is validated as before, and any other `if` or value goes to cfn-lint's keyword.
   Applied only while the source of the five functions that decide that result is the source
   it was written for (SHA-256 digests).

14. **A known `Ref` target passes the `refs` check at once** (`_known_refs`): every `Ref` cfn-lint
   checks validates its target name with `{dynamicValidation: {context: refs}}`, which builds the
   list of the template's names anew and validates the name against `{"enum": list}` (~700 times
   a pipeline template, ~10 ms). A name found in those collections (a dict or set lookup) passes
   that validation without an error whenever the validation is what it is for such a name (no
   cfn-lint keyword to run child rules, no dynamic reference, not a bare pseudo-parameter name
   outside a `Ref`, an `enum` that passes members); anything else goes to cfn-lint. Applied only
   while the source of the functions that decide that result (and of the E3030/W2030 `enum`
   methods, checked once the rules exist) is the source it was written for.

Tried and left out: importing sympy's submodules without its `__init__` (0.14 s saved too) broke
sympy's own lazy imports on templates with conditions (circular imports that `__init__`'s order
resolves); the cfn-lint corpus found it. Pausing `__init__` (6.) keeps that order.
"""

from __future__ import annotations
import __future__

import ast
import dataclasses
import functools
import importlib.machinery
import importlib.util
import inspect
import sys
import threading
from pathlib import Path
from urllib.parse import urljoin

_applied = False


class _Deferred:
    """A schema file not read yet: the arguments `load_resource` was called with."""

    __slots__ = ("args", "load_resource")

    def __init__(self, load_resource, *args):
        self.load_resource = load_resource
        self.args = args

    def load(self):
        return self.load_resource(*self.args)


def _cached_fields(class_or_instance) -> tuple:
    """`dataclasses.fields`, computed once per class and kept on the class: cfn-lint creates a
    Validator class for every validator it extends (many per template), so a cache outside the
    classes would keep each of them alive (a leak of ~1.6 MiB per template, measured)."""
    cls = class_or_instance if isinstance(class_or_instance, type) else type(class_or_instance)
    found = cls.__dict__.get("_manifestc_fields")
    if found is None:
        found = dataclasses.fields(cls)
        type.__setattr__(cls, "_manifestc_fields", found)
    return found


def _modules() -> dict:
    import cfnlint.context.context
    import cfnlint.helpers
    import cfnlint.jsonschema._filter
    import cfnlint.jsonschema.validators
    import cfnlint.rules.jsonschema  # noqa: F401 - loads the CfnLintJsonSchema module
    import cfnlint.schema.resolver._resolver

    return {
        "context": cfnlint.context.context,
        "helpers": cfnlint.helpers,
        "filter": cfnlint.jsonschema._filter,
        "validators": cfnlint.jsonschema.validators,
        "schema_rule": sys.modules["cfnlint.rules.jsonschema.CfnLintJsonSchema"],
        "resolver": cfnlint.schema.resolver._resolver,
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
    validators = modules["validators"]
    for name in ("CfnTemplateValidator", "StandardValidator"):
        cls = getattr(validators, name, None)
        problem = _validator_shape_problem(cls) if cls is not None else f"no {name}"
        if problem:
            problems.append(f"cfnlint.jsonschema.validators.{problem}")
    types = sys.modules.get("cfnlint.jsonschema._types")
    table = getattr(getattr(validators, "cfn_type_checker", None), "type_checkers", None)
    if (
        types is None
        or not isinstance(table, dict)
        or any(table.get(name) is not getattr(types, function, None) for name, function in _INLINE_TYPES.items())
    ):
        problems.append("cfnlint.jsonschema.validators.cfn_type_checker does not check types with _types' functions")
    if list(inspect.signature(validators.create).parameters) != ["validators", "function_filter", "fn_resolvers"]:
        problems.append("cfnlint.jsonschema.validators.create() has other parameters")
    rule = getattr(modules["schema_rule"], "CfnLintJsonSchema", None)
    if getattr(modules["schema_rule"], "load_resource", None) is not modules["helpers"].load_resource:
        problems.append("CfnLintJsonSchema does not read its schema with cfnlint.helpers.load_resource")
    if rule is None or "_schema" in vars(rule):
        problems.append("CfnLintJsonSchema has a class attribute _schema")
    resolver = modules["resolver"]
    if not (
        callable(getattr(resolver, "_search_schema", None)) and callable(getattr(resolver, "_match_keyword", None))
    ):
        problems.append("cfnlint.schema.resolver._resolver has no _search_schema or _match_keyword")
    ref_resolver = getattr(resolver, "RefResolver", None)
    wanted = ["referrer", "base_uri", "_id_of", "_scopes_stack", "_urljoin_cache", "_cache", "_cache_cfn_pointer",
              "_subschemas_cache", "store"]  # fmt: skip
    if (
        ref_resolver is None or [f.name for f in dataclasses.fields(ref_resolver)] != wanted
        or getattr(resolver, "urljoin", None) is not urljoin or not hasattr(functools, "_lru_cache_wrapper")
    ):  # fmt: skip
        problems.append("cfnlint.schema.resolver._resolver.RefResolver is not of the shape 12. was written for")
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
    _reuse_validator_classes(modules["validators"])
    _regex_front_cache()
    _keep_fragment_searches(modules["resolver"])
    _fast_string_equal()
    _cheap_resolvers(modules["resolver"])
    import cfnlint.jsonschema._keywords
    import cfnlint.jsonschema._keywords_cfn

    _transform_if(
        cfnlint.jsonschema._keywords, cfnlint.jsonschema._keywords_cfn, modules["filter"], modules["validators"]
    )
    _known_refs(
        cfnlint.jsonschema._keywords,
        cfnlint.jsonschema._keywords_cfn,
        modules["filter"],
        modules["validators"],
        modules["context"],
    )
    _applied = True
    return True


def settle(rules) -> None:
    """After cfn-lint built its rules (they do not change after that): a rule class that shadows
    the `_schema` property with a class attribute of its own would keep the deferred schema itself,
    so read any such schema now; and give E1101 its keyword index (5.)."""
    for rule in rules.values():
        value = vars(rule).get("_schema")
        if type(value) is _Deferred:
            rule.__dict__["_schema"] = value.load()
    if _applied:
        _index_cfn_lint_keywords(rules.get("E1101"))
        _enum_rules_passing_members(rules)


def _index_cfn_lint_keywords(rule) -> None:
    """5. E1101's `cfnLint` as cfn-lint writes it, with the child rules looked up by keyword.

    cfn-lint wires each rule's child rules at the start of every template's run (`Rules.run`),
    always to the same rule objects; the index is rebuilt whenever the child-rule table is another
    dict or has another length, and on the first call (before any wiring it is empty)."""
    if rule is None or type(rule).__name__ != "CfnLint" or "cfnLint" in vars(rule):
        return
    from cfnlint.jsonschema._utils import Unset

    state: dict = {"for": None, "index": {}}

    def lookup() -> dict:
        table = rule.child_rules
        if state["for"] != (id(table), len(table)):
            index: dict = {}
            for child in table.values():
                if child is None or not child.id:
                    continue
                for keyword in child.keywords:
                    index.setdefault(keyword, []).append(child)
            state["for"], state["index"] = (id(table), len(table)), index
        return state["index"]

    def cfnLint(validator, keywords, instance, schema):  # noqa: N802 - cfn-lint's keyword name
        validator = validator.evolve(
            function_filter=validator.function_filter.evolve(
                add_cfn_lint_keyword=False,
            )
        )
        index = lookup()
        for keyword in keywords:
            for child in index.get(keyword, ()):
                for err in child.validate(validator, keyword, instance, schema):
                    if err.rule is None:
                        if isinstance(err.validator, Unset):
                            err.rule = child
                    yield err

    rule.cfnLint = cfnLint


def _defer_rule_schemas(module, load_resource) -> None:
    def deferred(package, filename="us-east-1.json"):
        return _Deferred(load_resource, package, filename)

    def get(self):
        value = self.__dict__.get("_manifestc_schema")
        if type(value) is _Deferred:
            value = self.__dict__["_manifestc_schema"] = value.load()
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
            loaded[key] = _compilers_copy(package, filename) or original(package, filename)
        return loaded[key]

    helpers.load_resource = load_resource  # rule files bind it when cfn-lint executes them


def _compilers_copy(package, filename: str) -> dict | None:
    """The compiler's own parse of the same file (registry.py reads the IAM action table from
    cfn-lint's data to check the policies it writes; it only reads it too), else None."""
    from . import registry

    where = getattr(package, "__file__", None)
    if filename != "Policies.json" or where is None:
        return None
    try:
        same = Path(where).parent.samefile(registry.data_dir() / "AdditionalSpecs")
    except (OSError, RuntimeError):
        return None
    return registry.authorization() if same else None


def _validator_shape_problem(cls) -> str | None:
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or params.frozen or hasattr(cls, "__slots__") or not hasattr(cls, "__post_init__"):
        return f"{getattr(cls, '__name__', cls)} is not a mutable dataclass with __post_init__"
    if any(f.default_factory is dataclasses.MISSING for f in dataclasses.fields(cls) if not f.init):
        return f"{cls.__name__} has a non-init field without a default factory"
    return None


def _callable_key(value) -> tuple:
    """Who a validator function is: a bound method by its object and function, anything else by
    itself. Rules compare equal by id and are unhashable, hence identities; the class the key
    leads to keeps every object named alive, so an identity cannot be reused while it is cached."""
    owner = getattr(value, "__self__", None)
    function = getattr(value, "__func__", None)
    if owner is not None and function is not None:
        return ("method", id(owner), id(function))
    return ("object", id(value))


def _create_key(validators, function_filter, fn_resolvers) -> tuple:
    def table(mapping):
        return None if mapping is None else tuple((k, _callable_key(v)) for k, v in mapping.items())

    if function_filter is None:
        filter_key = None
    else:
        values = []
        for f in dataclasses.fields(function_filter):
            value = getattr(function_filter, f.name)
            values.append(tuple(value) if isinstance(value, list) else value)
        filter_key = (type(function_filter), tuple(values))
    key = (table(validators), filter_key, table(fn_resolvers))
    hash(key)  # TypeError: not cacheable
    return key


_CLASSES_KEPT = 1024


def _reuse_validator_classes(module) -> None:
    """4. One Validator class per distinct `create` arguments (see the module docstring)."""
    from collections import OrderedDict

    original = module.create
    classes: OrderedDict = OrderedDict()
    checker = module.cfn_type_checker

    @functools.wraps(original)
    def create(validators=None, function_filter=None, fn_resolvers=None):
        try:
            key = _create_key(validators, function_filter, fn_resolvers)
        except TypeError:
            key = None
        cls = classes.get(key) if key is not None else None
        if cls is not None:
            try:
                classes.move_to_end(key)
            except KeyError:  # evicted meanwhile by another thread: the class is still good
                pass
            return cls
        cls = original(validators=validators, function_filter=function_filter, fn_resolvers=fn_resolvers)
        if _validator_shape_problem(cls) is None:
            _fast_validator_evolve(cls)
            _fast_is_type(cls, checker)
        if key is not None:
            classes[key] = cls
            if len(classes) > _CLASSES_KEPT:
                classes.popitem(last=False)
        return cls

    module.create = create  # Validator.extend calls the module's create
    for name in ("CfnTemplateValidator", "StandardValidator"):
        _fast_validator_evolve(getattr(module, name))
        _fast_is_type(getattr(module, name), checker)


def _copy_init_fields(record, names: tuple, known: frozenset, kwargs: dict):
    """A new instance of the record's class, without `__init__`, whose init fields (`names`) are
    `kwargs`' or else the record's: what `cls(**{name: kwargs.get(name, record.name)})` sets."""
    if not known.issuperset(kwargs):
        raise TypeError(f"evolve() got unexpected keyword arguments {sorted(set(kwargs) - known)}")
    values = record.__dict__
    new = object.__new__(type(record))
    target = new.__dict__
    for name in names:
        target[name] = kwargs[name] if name in kwargs else values[name]
    return new


# 10. The types `is_type` answers inline: cfn-lint's type checker tests each with one isinstance.
_INLINE_TYPES = {"string": "is_string", "object": "is_object", "array": "is_array"}


def _fast_is_type(cls, checker) -> None:
    """10. `Validator.is_type` (~80,000 calls a pipeline template, each two method calls and a table
    lookup) answers "string", "object" and "array" with the `isinstance` test cfn-lint's own type
    checker runs for them (`_types.is_string`: `isinstance(instance, str)`, …), when the validator
    uses that checker; anything else as before."""
    original = cls.is_type
    if getattr(original, "_manifestc_inline", False):
        return

    def is_type(self, instance, type):
        if self._type_checker is checker:
            if type == "string":
                return isinstance(instance, str)
            if type == "object":
                return isinstance(instance, dict)
            if type == "array":
                return isinstance(instance, list)
        return original(self, instance, type)

    is_type.__doc__ = original.__doc__
    is_type.__wrapped__ = original
    is_type._manifestc_inline = True
    cls.is_type = is_type


def _fast_validator_evolve(cls) -> None:
    """What `cls(**{every init field})` does: init fields from the arguments or the evolved
    validator, the others from their default factories, then `__post_init__`."""
    fields = dataclasses.fields(cls)
    names = tuple(f.name for f in fields if f.init)
    late = tuple((f.name, f.default_factory) for f in fields if not f.init)
    known = frozenset(names)

    every = len(names) + len(late)

    def evolve(self, **kwargs):
        values = self.__dict__
        if len(values) == every and known.issuperset(kwargs):
            # the instance holds its fields and nothing else (the usual case): copy them at once
            new = object.__new__(type(self))
            target = new.__dict__ = values.copy()
            target.update(kwargs)
        else:
            new = _copy_init_fields(self, names, known, kwargs)
            target = new.__dict__
        for name, factory in late:
            target[name] = factory()
        new.__post_init__()
        return new

    evolve.__doc__ = cls.evolve.__doc__
    cls.evolve = evolve


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
        values = self.__dict__
        size = len(values)
        if (size == len(names) or (size == len(names) + 1 and derived in values)) and known.issuperset(kwargs):
            # the instance holds its fields (and module_names) and nothing else: copy them at once
            state = values.copy()
            state.update(kwargs)
            if "resources" in kwargs:
                state.pop(derived, None)
            new = object.__new__(type(self))
            object.__setattr__(new, "__dict__", state)
            return new
        new = _copy_init_fields(self, names, known, kwargs)
        if derived in values and "resources" not in kwargs:
            new.__dict__[derived] = values[derived]  # a cached_property of `resources` alone
        return new

    context_class.evolve = evolve


# 6. and 9. leave sympy and networkx half-imported until first need, which is sound in a process
# that does not import from several threads at once; lint.py calls them only where that was
# allowed (`lint.allow_paused_imports()`: the command line's processes).


def import_sympy_in_part() -> bool:
    """6. Run `sympy/__init__.py` up to its first `from .polys import`; the rest runs on first need.

    Call before cfn-lint is imported, in a process that imports from one thread. False (nothing
    changed) when sympy is imported already, is not installed or its `__init__` has no such statement (or no source); a
    failure in the first part is left to the plain import that follows (which raises it)."""

    def stop(node) -> bool:
        return isinstance(node, ast.ImportFrom) and node.level == 1 and node.module == "polys"

    paused = _pause("sympy", stop)
    if paused is None:
        return False
    paused.install()
    return True


def import_networkx_in_part() -> bool:
    """9. Run `networkx/__init__.py` up to `from networkx import generators`, and of its algorithms
    only `find_cycle`'s module (`algorithms.cycles`, with the `traversal` package it uses); the
    rest runs on first need. Call before cfn-lint is imported, in a process that imports from one
    thread; False (nothing changed) when networkx is imported already, not installed or not of
    that shape."""

    def stop(node) -> bool:
        return (
            isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "networkx"
            and any(alias.name == "generators" for alias in node.names)
        )  # fmt: skip

    paused = _pause("networkx", stop)
    if paused is None:
        return False
    algorithms = _pause("networkx.algorithms", lambda node: True, parent=paused)
    try:
        if algorithms is None:
            raise ImportError("networkx.algorithms is not a package of that shape")
        # what `from networkx.algorithms import *` will bind of them, bound now: cfn-lint calls
        # networkx.find_cycle, which calls networkx.edge_dfs
        exec(
            "from networkx.algorithms.cycles import *\nfrom networkx.algorithms.traversal import *",
            vars(paused.module),
        )
        if not callable(vars(paused.module).get("find_cycle")):
            raise ImportError("networkx.algorithms.cycles has no find_cycle")
    except Exception:  # noqa: BLE001 - undone; the plain import that follows does what it does
        _forget("networkx")
        return False
    paused.install()
    algorithms.install()
    return True


def _pause(name: str, stop, parent: _PausedInit | None = None) -> _PausedInit | None:
    """Module `name` (a package) in sys.modules, its `__init__` run up to the first statement `stop`
    accepts (None: not found, nothing changed). A failing first part undoes it all."""
    if name in sys.modules:
        return None
    try:
        spec = importlib.util.find_spec(name)
        source = spec.loader.get_source(name) if spec and spec.loader and spec.submodule_search_locations else None
        tree = ast.parse(source, spec.origin) if source is not None else None
    except (ImportError, OSError, SyntaxError, ValueError, TypeError, AttributeError):
        return None
    split = next((i for i, node in enumerate(tree.body) if stop(node)), None) if tree else None
    if split is None or (split == 0 and parent is None):
        return None
    # the package's own `from __future__` imports hold for both halves, and nothing of this
    # module's (a plain import compiles the file on its own)
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            flags |= functools.reduce(
                lambda a, b: a | b, (getattr(__future__, n.name).compiler_flag for n in node.names)
            )
    first = compile(ast.Module(body=tree.body[:split], type_ignores=[]), spec.origin, "exec", flags, dont_inherit=True)
    rest = compile(ast.Module(body=tree.body[split:], type_ignores=[]), spec.origin, "exec", flags, dont_inherit=True)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec._initializing = True  # as the import system marks a module whose __init__ runs
    try:
        exec(first, vars(module))
    except Exception:  # noqa: BLE001 - undone; the plain import that follows fails as it would have
        _forget(name)
        return None
    finally:
        spec._initializing = False
    return _PausedInit(module, rest, parent)


def _forget(name: str) -> None:
    for loaded in [n for n in sys.modules if n == name or n.startswith(name + ".")]:
        del sys.modules[loaded]


class _PausedInit:
    """The rest of a package's `__init__`, run once, on the thread that first needs it: when the
    module is asked for a name it does not have (module `__getattr__`), for its names (`__dir__`),
    or when a module of the package not loaded yet is imported (a finder first on `sys.meta_path`
    names a loader that runs the rest before it loads the module, outside the import system's
    global lock), so every module of the package loads after the ones a plain import loads before
    it. A paused subpackage (`parent`) first lets its parent run on (the parent's rest imports it
    where a plain import does, which runs its rest). Until the rest has run the hooks stay; if it
    fails, it runs (and fails) again on the next need, as a plain import would."""

    def __init__(self, module, code, parent=None):
        self.module = module
        self.code = code
        self.parent = parent
        self.lock = threading.RLock()
        self.prefix = module.__name__ + "."
        self.previous = vars(module).get("__getattr__")  # one the first part defined (networkx 2)

    def install(self) -> None:
        self.module.__getattr__ = self.getattr
        self.module.__dir__ = self.dir
        if self.parent is None:
            sys.meta_path.insert(0, self)
        else:
            setattr(self.parent.module, self.module.__name__.rpartition(".")[2], self.module)

    def run(self) -> None:
        if self.parent is not None:
            self.parent.run()
        with self.lock:
            code, self.code = self.code, None
            if code is None:
                return
            try:
                exec(code, vars(self.module))
            except BaseException:
                self.code = code  # the next need runs it again and fails again, as an import would
                raise
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            names = vars(self.module)
            for hook, mine in (("__getattr__", self.getattr), ("__dir__", self.dir)):
                if names.get(hook) == mine:
                    if hook == "__getattr__" and self.previous is not None:
                        names[hook] = self.previous
                    else:
                        del names[hook]

    def getattr(self, name: str):
        self.run()
        names = vars(self.module)
        if name in names:
            return names[name]
        own = names.get("__getattr__")  # networkx's own (3.x defines it in the rest, 2.x first)
        if own is not None and own != self.getattr:
            return own(name)
        raise AttributeError(f"module {self.module.__name__!r} has no attribute {name!r}")

    def dir(self) -> list[str]:
        self.run()
        own = vars(self.module).get("__dir__")  # one the rest defined, as a plain import would use
        if own is not None and own != self.dir:
            return own()
        return sorted(vars(self.module))

    def find_spec(self, fullname, path=None, target=None):
        if self.code is None or not fullname.startswith(self.prefix):
            return None
        real = importlib.machinery.PathFinder.find_spec(fullname, path)
        if real is None:
            return None
        spec = importlib.machinery.ModuleSpec(
            fullname, _RestFirst(self, real), origin=real.origin, is_package=real.submodule_search_locations is not None
        )
        spec.submodule_search_locations = real.submodule_search_locations
        spec.cached = real.cached
        spec.has_location = real.has_location
        return spec


class _RestFirst:
    """The loader `_PausedInit.find_spec` names: it runs the rest of the package's `__init__`, then
    hands the import the module that rest loaded (as it is), or loads it with its own loader."""

    def __init__(self, paused: _PausedInit, real):
        self.paused = paused
        self.real = real
        self.own = None
        self.fresh = False

    def create_module(self, spec):
        self.paused.run()
        module = sys.modules.get(spec.name)
        self.fresh = module is None
        if module is None:
            module = importlib.util.module_from_spec(self.real)
        self.own = module.__spec__  # the import system sets __spec__ to the spec naming this loader
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self.own
        if self.fresh:
            self.own._initializing = True
            try:
                self.real.loader.exec_module(module)
            finally:
                self.own._initializing = False


_PATTERNS_KEPT = 512  # regex's own cache keeps 500
# name -> (arguments required after the pattern, arguments before `flags`): regex.sub(pattern,
# repl, string, count=0, flags=0, ...), regex.split(pattern, string, maxsplit=0, flags=0, ...),
# the others (pattern, string, flags=0, ...)
_REGEX_CALLS = {
    "match": (1, 1), "fullmatch": (1, 1), "search": (1, 1), "findall": (1, 1), "finditer": (1, 1),
    "sub": (2, 3), "split": (1, 2),
}  # fmt: skip


def _regex_front_cache() -> bool:
    """7. The `regex` functions cfn-lint calls, with compiled patterns looked up in a dict first."""
    import regex

    main = sys.modules.get("regex._main")
    known = getattr(main, "_locale_sensitive", None)
    if (
        not isinstance(known, dict) or getattr(regex, "_manifestc_front_cache", False)
        or not all(callable(getattr(regex, n, None)) for n in _REGEX_CALLS)
    ):  # fmt: skip
        return False
    unusual = regex.DEBUG | regex.LOCALE
    compile_ = regex.compile
    compiled: dict = {}
    pattern_type = regex.Pattern

    def lookup(pattern, flags):
        if type(pattern) is pattern_type and not flags:
            return pattern  # what regex's _compile returns for a compiled pattern without flags
        if type(pattern) is not str or flags & unusual:
            return None
        key = (pattern, flags, regex.DEFAULT_VERSION)
        found = compiled.get(key)
        if found is None:
            if known.get((str, pattern), True):  # not compiled yet, or locale-sensitive
                return None
            if len(compiled) >= _PATTERNS_KEPT:
                compiled.clear()
            found = compiled[key] = compile_(pattern, flags)
        return found

    def front(name, original):
        required, before_flags = _REGEX_CALLS[name]

        def call(pattern, *args, **kwargs):
            # the arguments the Pattern method of the same name takes, with the same defaults,
            # and `flags` after them; anything else goes to regex as it is
            if not kwargs and required <= len(args) <= before_flags + 1:
                found = lookup(pattern, args[before_flags] if len(args) > before_flags else 0)
                if found is not None:
                    return getattr(found, name)(*args[:before_flags])
            return original(pattern, *args, **kwargs)

        return functools.wraps(original)(call)

    for name in _REGEX_CALLS:
        setattr(regex, name, front(name, getattr(regex, name)))
    regex._manifestc_front_cache = True
    return True


_DOCUMENTS_KEPT = 512


def _keep_fragment_searches(module) -> None:
    """8. `_search_schema(document, _match_keyword(k))`, the subschemas holding keyword `k`, made
    once per document and keyword (the document is kept with them: its id is not reused meanwhile)."""
    search, match_keyword = module._search_schema, module._match_keyword
    matchers: dict = {}
    found: dict = {}

    def keyword_matcher(keyword):
        matcher = matchers.get(keyword)
        if matcher is None:
            matcher = matchers[keyword] = match_keyword(keyword)
            matcher._manifestc_keyword = keyword
        return matcher

    def search_schema(schema, matcher):
        keyword = getattr(matcher, "_manifestc_keyword", None)
        if keyword is None:
            return search(schema, matcher)
        key = (id(schema), keyword)
        kept = found.get(key)
        if kept is None or kept[0] is not schema:
            if len(found) >= _DOCUMENTS_KEPT:
                found.clear()
            kept = found[key] = (schema, tuple(search(schema, matcher)))
        return iter(kept[1])

    module._match_keyword = keyword_matcher
    module._search_schema = search_schema


_BOOLEAN_WORDS = ("true", "false")


def _fast_string_equal() -> None:
    """11. `equal` as cfn-lint's `enum` keyword calls it (25,000 times a pipeline template): two
    strings (`str` or the template's `str_node`, which changes no comparison) that are equal are
    equal; unequal ones are equal only as boolean words (`bool_compare`, as `equal` does); any
    other pair goes to cfn-lint's `equal`."""
    from cfnlint.decode.node import str_node
    from cfnlint.helpers import bool_compare
    from cfnlint.jsonschema import _keywords

    original = _keywords.equal
    if getattr(original, "_manifestc_strings", False):
        return
    strings = (str, str_node)

    @functools.wraps(original)
    def equal(one, two):
        if type(one) in strings and type(two) in strings:
            if one == two:
                return True
            if one.lower() in _BOOLEAN_WORDS or two.lower() in _BOOLEAN_WORDS:
                return bool_compare(one, two)
            return False
        return original(one, two)

    equal._manifestc_strings = True
    _keywords.equal = equal  # the name enum and const look up when they run


_RESOLVER_CACHE_SIZE = 1024  # what RefResolver.__post_init__ gives lru_cache


def _cheap_resolvers(module) -> None:
    """12. `RefResolver.__post_init__` as cfn-lint writes it, with its caches made by
    `functools._lru_cache_wrapper` (what `lru_cache` returns, before it copies the wrapped
    function's attributes onto it) and one `urljoin` cache for all resolvers. `store` starts
    empty, as cfn-lint's fills it from itself (an empty dict)."""
    resolver_class = module.RefResolver
    if getattr(resolver_class.__post_init__, "_manifestc_cheap", False):
        return
    make = functools._lru_cache_wrapper
    info = functools._CacheInfo
    shared_urljoin = make(urljoin, _RESOLVER_CACHE_SIZE, False, info)

    def __post_init__(self):
        self._scopes_stack = [self.base_uri]
        if self._cache is None:
            self._cache = make(self.resolve_from_url, _RESOLVER_CACHE_SIZE, False, info)
        if self._cache_cfn_pointer is None:
            self._cache_cfn_pointer = make(self.resolve_cfn_pointer, _RESOLVER_CACHE_SIZE, False, info)
        if self._urljoin_cache is None:
            self._urljoin_cache = shared_urljoin
        if self.store is None:
            self.store = {}

    __post_init__._manifestc_cheap = True
    resolver_class.__post_init__ = __post_init__


# 13. and 14.: the source, as cfn-lint 1.58 has it, of the code whose result they answer themselves:
# the `if` keyword, the function filter every validation step runs first, the validator class
# (`create`, with its `iter_errors`), the `dynamicValidation` and `enum` keywords and
# `Context.refs`. Code of another source: the change that reasons about it is not applied.
_SOURCE_DIGESTS = {
    "cfnlint.jsonschema._keywords.if_": "fe30c1fc61a3232beb8c2a030d532395359a4c0a12e9011b28c533328f490f6a",
    "cfnlint.jsonschema._filter.FunctionFilter.filter": "6e1422c601f13a771bce4c131061726a7867fc96550cf898fd9a0e23a4d8bbb4",
    "cfnlint.jsonschema._filter.FunctionFilter._filter_schemas": "2e55a294ab43ce0629f136e670390fb40deadf3f6962279a2d51f17606340ba1",
    "cfnlint.jsonschema._keywords_cfn.dynamicValidation": "64b52c04517a50eae30a49e36fd93d1bf54814de3406581b7ce6ad39b091d31a",
    "cfnlint.jsonschema.validators.create": "2d1dd51fbc7a640b01868d3224cefa20d9815bcf85ef8e0b16fbc79fd839eabe",
    "cfnlint.jsonschema._keywords.enum": "f085f9576416178cec45f267f75b597c39257ee7232a40229b60c00067f366a0",
    "cfnlint.context.context.Context.refs": "387177beb5735f496fce5268501a3832de6aa01175f7bc42f8ec02731e2b44fe",
}


def _unchanged(functions: dict) -> bool:
    """Whether each cfn-lint function (by its name in `_SOURCE_DIGESTS`) has the recorded source."""
    return all(_source_digest(function) == _SOURCE_DIGESTS[name] for name, function in functions.items())


def _string_passes_filter(filter_module):
    """(validator, string) -> whether cfn-lint's function filter passes the string on unchanged to
    the keywords of a schema: unless it holds a dynamic reference (`{{resolve:…}}`, when the filter
    checks them) or is a bare pseudo-parameter name outside a `Ref`."""
    dynamic_reference = filter_module.REGEX_DYN_REF
    dynamic_reference_spaces = filter_module.REGEX_DYN_REF_SPACES
    pseudo_parameters = filter_module.PSEUDOPARAMS

    def passes(validator, instance) -> bool:
        if validator.function_filter.validate_dynamic_references and (
            dynamic_reference.findall(instance) or dynamic_reference_spaces.search(instance)
        ):
            return False
        return not (instance in pseudo_parameters and "Ref" not in validator.context.path.path)

    return passes


def _source_digest(function) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(inspect.getsource(function).encode("utf-8")).hexdigest()
    except (OSError, TypeError):  # no source: the code cannot be checked
        return None


def _transform_if(keywords, keywords_cfn, filter_module, validators) -> bool:
    """13. `if: {dynamicValidation: {transformCheck: X}}` answered without validating. Every `Ref`,
    `Fn::GetAtt`, `Fn::FindInMap` and `Fn::Select` cfn-lint checks goes through such an `if` (is
    the AWS::LanguageExtensions transform declared?), 850 a pipeline template: the keyword derives
    two validators and runs a whole validation step of the value against the `if` schema, whose
    only possible error is "transform X is not in the template". For a string that step yields
    exactly that: the function filter passes a string on unchanged unless it holds a dynamic
    reference (`{{resolve:…}}`, checked when the filter checks them) or is a pseudo-parameter name
    outside a `Ref`, and `dynamicValidation` with only `transformCheck` tests
    `X in validator.context.transforms.transforms` (an exception there is an error too). So for
    such a string, with the validator's `dynamicValidation` being cfn-lint's, the `then` or `else`
    branch is taken from that test, through the same `validator.descend` the keyword uses;
    anything else (other `if` schemas, other values) goes to cfn-lint's `if_`. Applied only to
    the code whose source digests `_SOURCE_DIGESTS` records."""
    original = keywords.if_
    if getattr(original, "_manifestc_transform_if", False):
        return True
    sources = {
        "cfnlint.jsonschema._keywords.if_": original,
        "cfnlint.jsonschema._filter.FunctionFilter.filter": filter_module.FunctionFilter.filter,
        "cfnlint.jsonschema._filter.FunctionFilter._filter_schemas": filter_module.FunctionFilter._filter_schemas,
        "cfnlint.jsonschema._keywords_cfn.dynamicValidation": keywords_cfn.dynamicValidation,
        "cfnlint.jsonschema.validators.create": validators.create,
    }
    if not _unchanged(sources):
        return False
    tables = [validators._standard_validators]
    tables += [cls({}).validators for cls in (validators.CfnTemplateValidator, validators.StandardValidator)]
    if any(table.get("if") is not original for table in tables):
        return False
    _DYNAMIC_VALIDATIONS.append(keywords_cfn.dynamicValidation)
    passes_filter = _string_passes_filter(filter_module)

    def if_(validator, if_schema, instance, schema):
        transform = _transform_checked(if_schema)
        if (
            transform is None
            or not validator.is_type(instance, "string")
            or not _one_of(validator.validators.get("dynamicValidation"), _DYNAMIC_VALIDATIONS)
            or not passes_filter(validator, instance)
        ):
            yield from original(validator, if_schema, instance, schema)
            return
        try:
            declared = transform in validator.context.transforms.transforms
        except Exception:  # noqa: BLE001 - the validation step reports an exception as an error
            declared = False
        validator = validator.evolve(function_filter=validator.function_filter.evolve(add_cfn_lint_keyword=False))
        if declared:
            if "then" in schema:
                yield from validator.descend(instance, schema["then"], schema_path="then")
        elif "else" in schema:
            yield from validator.descend(instance, schema["else"], schema_path="else")

    _install_keyword(keywords, "if_", "if", if_, original, "_manifestc_transform_if", tables)
    return True


def _install_keyword(module, attribute: str, keyword: str, replacement, original, flag: str, tables) -> None:
    """`replacement` in place of cfn-lint's keyword function `original`: as `module.attribute` and
    under `keyword` in the validator tables that held `original` (marked with `flag`)."""
    replacement.__doc__ = original.__doc__
    replacement.__wrapped__ = original
    setattr(replacement, flag, True)
    setattr(module, attribute, replacement)
    for table in tables:
        table[keyword] = replacement


# cfn-lint's `dynamicValidation` and 14.'s, which answers as it does
_DYNAMIC_VALIDATIONS: list = []


def _one_of(function, known: list) -> bool:
    """`function` is one of `known` (by identity: a keyword may be any callable, even unhashable)."""
    return any(function is candidate for candidate in known)


def _transform_checked(if_schema):
    """X when `if_schema` is exactly {"dynamicValidation": {"transformCheck": X}}, X a string."""
    if type(if_schema) is dict and len(if_schema) == 1:
        check = if_schema.get("dynamicValidation")
        if type(check) is dict and len(check) == 1:
            transform = check.get("transformCheck")
            if isinstance(transform, str):
                return transform
    return None


# 14. The source, as cfn-lint 1.58 has it, of what decides that a known `Ref` target passes the
# `refs` check: that check, the validation step it descends into (filter, validator class), the
# `enum` keyword and `Context.refs`; and of the two rules' `enum` that extend the keyword.
_ENUM_RULE_SOURCES = {  # rule id -> digest of its `enum` method
    "E3030": "aabfd1e189d9bedf450860528f2a12f2de05d5ebcedab724d54f913fdf18b539",
    "W2030": "f99b1a60db224c3cda04b5b4c611a463e2006feda25f3f9e90b9d4f4d4931bff",
}
# the `enum` implementations a known reference passes without an error: cfn-lint's keyword, and
# (from settle(), once the rules exist) the E3030 and W2030 methods that call it
_ENUMS_PASSING_MEMBERS: list = []


def _known_refs(keywords, keywords_cfn, filter_module, validators, context_module) -> bool:
    """14. `dynamicValidation: {context: refs}` answered at once for a known name. Every `Ref`
    cfn-lint checks validates its target name against the template's names (parameters,
    resources, pseudo-parameters, values a `Fn::Sub` defines): `Context.refs` builds that list
    anew and a validation step checks the name against `{"enum": list}` (~700 times a pipeline
    template, ~20 ms). A string that is one of those names (a dict or set lookup on the same
    collections, which compares as `equal` does for two strings) passes that step without an
    error, when the step is what it is for such a string: no cfn-lint keyword added by the filter
    (it would run child rules), no dynamic reference, not a bare pseudo-parameter name outside a
    `Ref`, and the validator's `enum` one that passes members (cfn-lint's keyword or the
    E3030/W2030 rule methods calling it; not for a value from Parameters, where E3030 hands the
    check to whatever child rule it holds). With module resources the step is an `anyOf` of that
    `enum` and name patterns, which a member passes too. Any other name or case goes to
    cfn-lint's `dynamicValidation`. Applied only to the code whose source
    digests `_SOURCE_DIGESTS` records."""
    original = keywords_cfn.dynamicValidation
    if getattr(original, "_manifestc_known_refs", False):
        return True
    enum = getattr(keywords.enum, "__wrapped__", keywords.enum)
    sources = {
        "cfnlint.jsonschema._keywords_cfn.dynamicValidation": original,
        "cfnlint.jsonschema._filter.FunctionFilter.filter": filter_module.FunctionFilter.filter,
        "cfnlint.jsonschema._filter.FunctionFilter._filter_schemas": filter_module.FunctionFilter._filter_schemas,
        "cfnlint.jsonschema.validators.create": validators.create,
        "cfnlint.jsonschema._keywords.enum": enum,
        "cfnlint.context.context.Context.refs": context_module.Context.refs.fget,
    }
    if not _unchanged(sources):
        return False
    tables = [keywords_cfn.cfn_validators, validators.CfnTemplateValidator({}).validators]
    if any(table.get("dynamicValidation") is not original for table in tables):
        return False
    _ENUMS_PASSING_MEMBERS.append(enum)
    passes_filter = _string_passes_filter(filter_module)

    def dynamicValidation(validator, dV, instance, schema):
        if type(dV) is dict and len(dV) == 1 and dV.get("context") == "refs" and validator.is_type(instance, "string"):
            context = validator.context
            enum_check = validator.validators.get("enum")
            if (
                not validator.function_filter.add_cfn_lint_keyword
                and _one_of(getattr(enum_check, "__func__", enum_check), _ENUMS_PASSING_MEMBERS)
                and not (context.path.value_path and context.path.value_path[0] == "Parameters")
                and passes_filter(validator, instance)
                and (
                    instance in context.parameters
                    or instance in context.resources
                    or instance in context.pseudo_parameters
                    or instance in context.ref_values
                )
            ):
                return
        yield from original(validator, dV, instance, schema)

    _install_keyword(
        keywords_cfn, "dynamicValidation", "dynamicValidation", dynamicValidation, original,
        "_manifestc_known_refs", tables,
    )  # fmt: skip
    _DYNAMIC_VALIDATIONS.append(dynamicValidation)
    return True


def _enum_rules_passing_members(rules) -> None:
    """14.: the E3030 and W2030 `enum` methods, when their source is what 14. was written for."""
    for rule_id, digest in _ENUM_RULE_SOURCES.items():
        rule = rules.get(rule_id) if hasattr(rules, "get") else None
        method = getattr(type(rule), "enum", None) if rule is not None else None
        if method is not None and _source_digest(method) == digest and not _one_of(method, _ENUMS_PASSING_MEMBERS):
            _ENUMS_PASSING_MEMBERS.append(method)
