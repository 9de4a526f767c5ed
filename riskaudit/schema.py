"""One JSON Schema for checker options, policies and project files (validated with jsonschema).

The schema of a checker's options is generated from its ``Option`` declarations; the policy
schema and the project-file schema embed it under ``checks.<id>.options`` and
``options.<id>``, so an option is checked the same way wherever it is written, and always
before any checker runs. :func:`validate` turns the first error (in document order) into
one message naming the file and the key path, e.g. ``mine.yaml: checks.drift.options.alpha:
must be <= 0.5, got 2``.

A node may carry ``x-message`` (the message for any error of that node) and an object node
``x-unknown`` (what an unexpected key is called: "unknown key", "unknown risk tier").
"""

from __future__ import annotations

import functools

from typing import TYPE_CHECKING, Any, Iterable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from riskaudit.checks.base import Checker, Option

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               tuple: "array", dict: "object"}
_WORDS = {"boolean": "true or false", "integer": "an integer", "number": "a number", "string": "a string",
          "array": "a list", "object": "a mapping", "null": "null"}


def _types(t: Any) -> list[str]:
    ts = t if isinstance(t, tuple) else (t,)
    out = []
    for x in ts:
        name = _JSON_TYPES.get(x)
        if name and name not in out:
            out.append(name)
    return out


def option_schema(opt: Option) -> dict[str, Any]:
    """The JSON Schema of one option's value."""
    typ = opt.type if opt.type is not None else type(opt.default)
    types = _types(typ) or []
    schema: dict[str, Any] = {}
    if types:
        if "number" in types and "integer" in types:
            types.remove("integer")
        if opt.nullable or opt.default is None:
            types.append("null")
        schema["type"] = types[0] if len(types) == 1 else types
    if opt.choices is not None:
        schema["enum"] = list(opt.choices) + ([None] if opt.nullable or opt.default is None else [])
    if opt.minimum is not None:
        schema["minimum"] = opt.minimum
    if opt.maximum is not None:
        schema["maximum"] = opt.maximum
    if opt.item_type is not None:
        items = _types(opt.item_type)
        if items:
            schema["items"] = {"type": items[0] if len(items) == 1 else items}
    schema.update(opt.schema or {})
    schema["description"] = opt.doc
    return schema


def checker_options_schema(checker: type[Checker]) -> dict[str, Any]:
    """An object of the checker's declared options, nothing else."""
    return {"type": "object", "properties": {n: option_schema(o) for n, o in checker.options.items()},
            "additionalProperties": False, "x-unknown": "unknown option"}


SECONDS: dict[str, Any] = {"type": ["number", "null"], "exclusiveMinimum": 0,
                           "x-message": "must be a positive number of seconds or null (no limit)"}


def _checks_schema(checkers: Mapping[str, type[Checker]] | None) -> dict[str, Any]:
    section: dict[str, Any] = {
        "type": ["object", "null"], "x-message": "must be a mapping with enabled / options / thresholds / severity",
        "properties": {
            "enabled": {"type": "boolean"},
            "max_runtime_s": SECONDS,
            "options": {"type": ["object", "null"]},
            "thresholds": {"type": ["object", "null"], "additionalProperties": {
                "type": "object", "x-message": "must be a mapping with fail and/or warn",
                "properties": {"fail": {"type": ["number", "null"]}, "warn": {"type": ["number", "null"]}},
                "additionalProperties": False}},
            "severity": {"type": ["object", "null"],
                         "additionalProperties": {"enum": ["low", "medium", "high", "critical"]}},
        },
        "additionalProperties": False,
    }
    out: dict[str, Any] = {"type": ["object", "null"], "x-message": "must be a mapping of checker id to settings",
                           "additionalProperties": section}
    if checkers:
        props = {}
        for cid, cls in checkers.items():
            sec = {**section, "properties": dict(section["properties"])}
            sec["properties"]["options"] = {**checker_options_schema(cls), "type": ["object", "null"]}
            kinds = list(cls.kinds)
            sec["properties"]["thresholds"] = {**section["properties"]["thresholds"],
                                               "propertyNames": {"enum": kinds, "x-unknown": f"unknown finding kind of {cid}"}}
            sec["properties"]["severity"] = {**section["properties"]["severity"],
                                             "propertyNames": {"enum": kinds, "x-unknown": f"unknown finding kind of {cid}"}}
            props[cid] = sec
        out["properties"] = props
    return out


def policy_schema(checkers: Mapping[str, type[Checker]] | None = None,
                  builtin_names: Iterable[str] = ()) -> dict[str, Any]:
    """The policy file. With ``checkers`` the options, threshold and severity keys of each
    installed checker are checked too (an unknown checker id is left to the caller)."""
    roles = {"type": "array", "x-message": "must be a list of {role, count}", "items": {
        "type": "object", "x-message": "must be a mapping with a non-empty 'role'", "required": ["role"],
        "properties": {"role": {"type": "string", "minLength": 1},
                       "count": {"type": "integer", "minimum": 1, "x-message": "must be a positive integer"}},
        "additionalProperties": False}}
    tiers = ["low", "medium", "high"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object", "x-message": "a policy must be a mapping of keys",
        "properties": {
            "name": {"type": "string"}, "description": {"type": "string"},
            "risk_tier": {"enum": tiers},
            "allow_warn": {"type": "boolean"},
            "approval_ttl_days": {"type": "number", "exclusiveMinimum": 0,
                                  "x-message": "must be a positive number"},
            "extends": {"enum": sorted(builtin_names),
                        "x-message": f"must name a built-in policy ({', '.join(sorted(builtin_names))})"},
            "checks": _checks_schema(checkers),
            "approvals": {"type": ["object", "null"], "x-message": "must be a mapping of risk tier to outcomes",
                          "propertyNames": {"enum": tiers, "x-unknown": "unknown risk tier"},
                          "additionalProperties": {
                              "type": "object", "x-message": "must be a mapping of outcome (pass, warn, fail) to roles",
                              "propertyNames": {"enum": ["pass", "warn", "fail"], "x-unknown": "unknown outcome"},
                              "additionalProperties": roles}},
            "keys": {"type": ["object", "null"], "additionalProperties": {"type": "array", "items": {"type": "string"}},
                     "x-message": "must map each role to a list of public keys (strings)"},
            "max_runtime": {"type": ["object", "null"], "x-message": "must be a mapping with scan_s and/or check_s",
                            "properties": {"scan_s": SECONDS, "check_s": SECONDS}, "additionalProperties": False},
            "regulations": {
                "type": ["object", "null"], "x-message": "must be a mapping with 'frameworks' and 'kinds'",
                "properties": {
                    "frameworks": {"type": ["object", "null"],
                                   "x-message": "must map a framework id to {title, provisions}",
                                   "additionalProperties": {
                                       "type": "object", "required": ["provisions"],
                                       "x-message": "must be a mapping with a title and provisions",
                                       "properties": {"title": {"type": "string"},
                                                      "provisions": {"type": "object"}}}},
                    "kinds": {"type": ["object", "null"],
                              "additionalProperties": {
                                  "type": "object",
                                  "x-message": "must map a framework id to a list of provisions",
                                  "additionalProperties": {"type": "array", "items": {"type": "string"}}}}},
                "additionalProperties": False},
        },
        "additionalProperties": False,
    }


def project_schema(keys: Mapping[str, tuple[str, str]],
                   checkers: Mapping[str, type[Checker]] | None = None) -> dict[str, Any]:
    """The project file (``riskaudit.yaml``): ``keys`` is riskaudit.project.PROJECT_KEYS
    (the type word and a description per key); ``options.<id>`` like a policy's options."""
    words = {"a string": ["string", "integer", "number"], "an integer": "integer", "true or false": "boolean",
             "a list": ["array", "string"], "a mapping": "object"}
    props: dict[str, Any] = {}
    for key, (word, doc) in keys.items():
        t = words[word]
        props[key] = {"type": (t if isinstance(t, list) else [t]) + ["null"], "description": doc,
                      "x-message": f"must be {word}"}
    if checkers:
        props["options"] = {"type": ["object", "null"], "x-message": "must be a mapping",
                            "properties": {cid: {**checker_options_schema(cls), "type": ["object", "null"]}
                                           for cid, cls in checkers.items()},
                            "additionalProperties": {"type": ["object", "null"]}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "x-message": "must be a mapping of keys", "properties": props, "additionalProperties": False}


# --------------------------------------------------------------------------- errors

def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _message(err) -> tuple[str, str]:
    """(key path, what is wrong) for one jsonschema error."""
    path = list(err.absolute_path)
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    v = err.validator
    if v == "required":  # the first missing key, with its own message when it has one
        missing = next((k for k in err.validator_value if k not in err.instance), "?")
        prop = (schema.get("properties") or {}).get(missing) or {}
        return _path(path + [missing]), prop.get("x-message", "is required")
    if v == "additionalProperties":
        known = list((schema.get("properties") or {}).keys())
        extra = sorted(set(err.instance) - set(known), key=str)
        name = extra[0] if extra else "?"
        label = schema.get("x-unknown", "unknown key")
        return _path(path + [name]), f"{label} (known: {', '.join(map(str, known)) or 'none'})"
    if schema.get("x-message"):
        return _path(path), schema["x-message"] + (f", got {err.instance!r}" if v not in ("required",) else "")
    if v == "type":
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        words = [_WORDS[t] for t in types if t != "null"]
        return _path(path), f"must be {' or '.join(words)}{' or null' if 'null' in types else ''}, got {err.instance!r}"
    if v == "enum":
        return _path(path), f"must be one of {', '.join(map(repr, schema['enum']))}, got {err.instance!r}"
    if v in ("minimum", "exclusiveMinimum"):
        return _path(path), f"must be {'>=' if v == 'minimum' else '>'} {schema[v]}, got {err.instance!r}"
    if v in ("maximum", "exclusiveMaximum"):
        return _path(path), f"must be {'<=' if v == 'maximum' else '<'} {schema[v]}, got {err.instance!r}"
    return _path(path), err.message


@functools.lru_cache(maxsize=1)
def _validator_class():
    """Draft 2020-12, where a Python tuple is an array too (option defaults are tuples)."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "array", lambda _checker, instance: isinstance(instance, (list, tuple)))
    return validators.extend(Draft202012Validator, type_checker=checker)


def _json_view(value: Any) -> Any:
    """The document as JSON sees it: a YAML date (``expires: 2027-01-31``) is its ISO string."""
    import datetime as dt

    if isinstance(value, dt.date):
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    if isinstance(value, Mapping):
        return {k: _json_view(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_view(v) for v in value]
    return value


def errors(instance: Any, schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every error as (key path, message), in document order (shallowest first)."""
    from jsonschema import FormatChecker

    validator = _validator_class()(schema, format_checker=FormatChecker(formats=("date",)))
    found = []
    for err in validator.iter_errors(_json_view(instance)):
        # a propertyNames error's instance is the offending key; its path is the mapping's
        if "propertyNames" in err.relative_schema_path:
            parent = list(err.absolute_path)
            known = list(err.schema.get("enum") or [])
            msg = (f"{err.schema.get('x-unknown', 'unknown key')} (known: {', '.join(map(str, known))})" if known
                   else f"{err.schema.get('x-message', err.message)}, got {err.instance!r}")
            found.append((len(parent) + 1, _path(parent + [err.instance]), msg))
            continue
        key, msg = _message(err)
        found.append((len(list(err.absolute_path)), key, msg))
    found.sort(key=lambda t: t[0])
    return [(k, m) for _, k, m in found]


def first_error(instance: Any, schema: Mapping[str, Any]) -> tuple[str, str] | None:
    found = errors(instance, schema)
    return found[0] if found else None
