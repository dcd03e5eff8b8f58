"""Validating CxJourney documents against the CRD's schema and CEL rules, with fixable messages."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema

from cxj_journey import schema as crd
from cxj_journey.rules import RULES

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_JSON_TYPES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
    type(None): "null",
}


@dataclass(frozen=True)
class Problem:
    """One reason a document is invalid: where, and what would fix it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def format_path(parts: Sequence[str | int]) -> str:
    """Formats a JSON path as spec.steps[2].http.url."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[]":
            out += "[*]"
        else:
            out += f".{part}" if out else part
    return out


def validate_document(document: Any) -> list[Problem]:
    """Returns every problem with one document; an empty list means the apiserver accepts it."""
    if not isinstance(document, dict):
        return [
            Problem("", f"a document must be a mapping (YAML object), got {_type_name(document)}")
        ]
    problems = list(_check_type_meta(document))
    if problems:
        return problems
    kind = document["kind"]
    document = _drop_nulls(document)
    problems.extend(_check_metadata(document.get("metadata")))
    validator = jsonschema.Draft202012Validator(crd.json_schema(kind))
    schema_errors = sorted(
        validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
    )
    problems.extend(problem for error in schema_errors for problem in _explain(error))
    # Like the apiserver, CEL rules see the document after defaulting, and run alongside
    # the schema's own checks; where a node is too malformed to evaluate, only the schema
    # error is reported.
    defaulted = crd.apply_defaults(document, crd.openapi_schema(kind))
    problems.extend(_check_cel_rules(kind, defaulted, strict=not problems))
    return problems


def _check_type_meta(document: dict[str, Any]) -> Iterator[Problem]:
    kind = document.get("kind")
    api_version = document.get("apiVersion")
    if kind not in crd.CRD_FILES:
        known = ", ".join(sorted(crd.CRD_FILES))
        yield Problem("kind", f"must be one of {known}, got {kind!r}")
    if api_version != crd.API_VERSION:
        yield Problem("apiVersion", f"must be {crd.API_VERSION}, got {api_version!r}")


def _check_metadata(metadata: Any) -> Iterator[Problem]:
    if not isinstance(metadata, dict):
        yield Problem("metadata", "required: a mapping with at least a name")
        return
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        yield Problem("metadata.name", "required: the journey's name, e.g. voice-call-support")
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        yield Problem(
            "metadata.name",
            f"must be lower-case letters, digits, '-' and '.', starting and ending with a "
            f"letter or digit; got {name!r}",
        )
    namespace = metadata.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str)
        or len(namespace) > 63
        or not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", namespace)
    ):
        yield Problem("metadata.namespace", f"must be a DNS label, got {namespace!r}")


def _drop_nulls(value: Any) -> Any:
    # The apiserver prunes null values of non-nullable fields before defaulting.
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _type_name(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _explain(error: jsonschema.ValidationError) -> Iterator[Problem]:
    path = list(error.absolute_path)
    where = format_path(path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    hint = schema.get("description", "")
    value: Any = error.instance
    bound_value: Any = error.validator_value
    match error.validator:
        case "additionalProperties":
            known = sorted(schema.get("properties", {}))
            for extra in sorted(set(value) - set(known)):
                close = difflib.get_close_matches(extra, known, n=1)
                suggestion = (
                    f"; did you mean {close[0]!r}?"
                    if close
                    else f"; known fields: {', '.join(known)}"
                )
                yield Problem(format_path([*path, extra]), f"unknown field{suggestion}")
        case "required":
            missing = re.findall(r"'([^']+)' is a required property", error.message)
            for name in missing:
                child = schema.get("properties", {}).get(name, {})
                yield Problem(
                    format_path([*path, name]),
                    f"required field is missing: {child.get('description', '')}".rstrip(": "),
                )
        case "type":
            yield Problem(
                where,
                f"must be {_article(str(bound_value))}, got {_type_name(value)} {value!r}",
            )
        case "enum":
            options = ", ".join(map(str, bound_value))
            yield Problem(where, f"must be one of {options}; got {value!r}")
        case "pattern":
            yield Problem(where, f"{value!r} is not valid here. {hint}".strip())
        case "minimum" | "maximum":
            bound = "at least" if error.validator == "minimum" else "at most"
            yield Problem(where, f"must be {bound} {bound_value}, got {value!r}")
        case "minItems" | "maxItems":
            bound = "at least" if error.validator == "minItems" else "at most"
            yield Problem(where, f"must have {bound} {bound_value} item(s), got {len(value)}")
        case "minLength" | "maxLength":
            bound = "at least" if error.validator == "minLength" else "at most"
            yield Problem(where, f"must be {bound} {bound_value} characters long, got {len(value)}")
        case "maxProperties":
            yield Problem(where, f"must have at most {bound_value} entries, got {len(value)}")
        case _:
            yield Problem(where, error.message)


def _article(type_name: str) -> str:
    return f"an {type_name}" if type_name[0] in "aeiou" else f"a {type_name}"


def _nodes_at(
    node: Any, path: tuple[str, ...], trail: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if not path:
        yield trail, node
        return
    head, rest = path[0], path[1:]
    if head == "[]":
        if isinstance(node, list):
            for index, item in enumerate(node):
                yield from _nodes_at(item, rest, (*trail, index))
    elif isinstance(node, dict) and head in node:
        yield from _nodes_at(node[head], rest, (*trail, head))


def _check_cel_rules(kind: str, document: dict[str, Any], *, strict: bool) -> Iterator[Problem]:
    for rule in crd.cel_rules(kind):
        predicate = RULES[rule.message]
        for trail, node in _nodes_at(document, rule.path):
            try:
                holds = predicate(node)
            except (KeyError, TypeError, ValueError, AttributeError):
                holds = not strict
            if not holds:
                field = [part for part in rule.field_path.split(".") if part]
                yield Problem(format_path([*trail, *field]), rule.message)
