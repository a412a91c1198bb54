"""Validate request (and the fake's own response) bodies against Discord's OpenAPI spec.

The 1.2 MB spec is loaded once per process into a ``referencing.Registry`` and validators are
built lazily per operation and cached, so validation costs milliseconds. Multipart requests are
validated through their decoded ``payload_json`` against the ``application/json`` schema, as
Discord does. One deliberate patch: ``SnowflakeType`` also accepts non-negative integers, because
discord.py sends attachment placeholder ids (``{"id": 0, ...}``) as ints and Discord accepts them.

Unions: the spec writes Discord's ``oneOf`` unions as ``anyOf``/``oneOf`` without discriminators,
so :func:`_narrow` picks the branch whose ``type`` constant matches the instance to report the
error a human would expect, instead of jsonschema's "not valid under any of the given schemas".
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from .errors import field_errors, merge_errors

SPEC_FILE = Path(__file__).with_name("openapi.json")
SPEC_URI = "urn:fake-discord:openapi"
_METHODS = ("get", "put", "post", "patch", "delete")


@dataclass(frozen=True)
class Violation:
    """One schema violation: the JSON path inside the body plus a readable message."""

    path: tuple[str | int, ...]
    message: str
    keyword: str
    limit: Any = None

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path) or "<body>"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class _Template:
    template: str
    regex: re.Pattern[str]
    literals: int


class Spec:
    """The parsed spec, its registry and per-operation validator cache."""

    def __init__(self, raw: dict[str, Any]) -> None:
        raw["components"]["schemas"]["SnowflakeType"] = {
            "anyOf": [
                {"type": "string", "pattern": "^(0|[1-9][0-9]*)$"},
                {"type": "integer", "minimum": 0},
            ]
        }
        self.raw = raw
        self.registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, DRAFT202012.create_resource(raw)
        )
        self.templates = [self._compile(t) for t in raw["paths"]]

    @staticmethod
    def _compile(template: str) -> _Template:
        parts = template.strip("/").split("/")
        pattern = "/".join(
            "[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts
        )
        literals = sum(not p.startswith("{") for p in parts)
        return _Template(template, re.compile(f"/{pattern}"), literals)

    def match(self, method: str, path: str) -> str | None:
        """The spec path template for a concrete path (literal segments win: @original, @me)."""
        method = method.lower()
        best: _Template | None = None
        for tpl in self.templates:
            fits = method in self.raw["paths"][tpl.template] and tpl.regex.fullmatch(path)
            if fits and (best is None or tpl.literals > best.literals):
                best = tpl
        return best.template if best else None

    def _pointer_validator(self, pointer: str) -> Draft202012Validator:
        ref = f"{SPEC_URI}#{quote(pointer, safe='/~')}"
        return Draft202012Validator({"$ref": ref}, registry=self.registry)

    @functools.cache  # noqa: B019 - one Spec per process, so the cache never leaks
    def request_validator(self, template: str, method: str) -> Draft202012Validator | None:
        op = self.raw["paths"][template].get(method.lower(), {})
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            return None
        return self._pointer_validator(
            f"{_escape(['paths', template, method.lower()])}"
            "/requestBody/content/application~1json/schema"
        )

    @functools.cache  # noqa: B019
    def response_validator(
        self, template: str, method: str, status: int
    ) -> Draft202012Validator | None:
        op = self.raw["paths"][template].get(method.lower(), {})
        response = op.get("responses", {}).get(str(status))
        if not response or "application/json" not in response.get("content", {}):
            return None
        return self._pointer_validator(
            f"{_escape(['paths', template, method.lower(), 'responses', str(status)])}"
            "/content/application~1json/schema"
        )

    def schema(self, name: str) -> dict[str, Any]:
        return dict(self.raw["components"]["schemas"][name])

    def schema_validator(self, name: str) -> Draft202012Validator:
        return self._pointer_validator(_escape(["components", "schemas", name]))


def _escape(tokens: list[str]) -> str:
    return "".join("/" + t.replace("~", "~0").replace("/", "~1") for t in tokens)


@functools.cache
def spec() -> Spec:
    """The process-wide spec (first call ~0.15 s, then free)."""
    return Spec(json.loads(SPEC_FILE.read_text()))


def _branch_mismatch(errors: list[ValidationError]) -> bool:
    """True when a union branch clearly does not apply (wrong JSON type or ``type`` constant)."""
    for err in errors:
        rel = list(err.relative_path)
        if err.validator == "type" and not rel:
            return True
        if rel == ["type"] and err.validator in ("enum", "const", "oneOf", "anyOf"):
            return True
    return False


def _narrow(error: ValidationError) -> Iterator[ValidationError]:
    """Replace a union error by the errors of the branch the instance was meant to match."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        yield error
        return
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    plausible = [errs for errs in branches.values() if not _branch_mismatch(errs)]
    if not plausible:
        yield error
        return
    # Several object-shaped branches can fit (e.g. webhook create vs update): report the one
    # that came closest, i.e. with the fewest errors.
    for sub in min(plausible, key=len):
        yield from _narrow(sub)


def _violations(validator: Draft202012Validator, body: Any) -> list[Violation]:
    out: list[Violation] = []
    for err in validator.iter_errors(body):
        for leaf in _narrow(err):
            message = leaf.message if len(leaf.message) < 300 else leaf.message[:300] + "..."
            limit = leaf.validator_value if isinstance(leaf.validator_value, int) else None
            out.append(Violation(tuple(leaf.absolute_path), message, str(leaf.validator), limit))
    return out


def validate_request(method: str, path: str, body: Any) -> list[Violation]:
    """Violations of the request body schema; empty when fine or when the spec has no schema."""
    s = spec()
    template = s.match(method, path)
    if template is None:
        return []
    validator = s.request_validator(template, method)
    return _violations(validator, body) if validator else []


def validate_response(method: str, path: str, status: int, body: Any) -> list[Violation]:
    """Violations of the fake's own reply against the documented response (fidelity self-check)."""
    s = spec()
    template = s.match(method, path)
    if template is None:
        return []
    validator = s.response_validator(template, method, status)
    return _violations(validator, body) if validator else []


_CODES = {
    "maxLength": ("BASE_TYPE_MAX_LENGTH", "Must be {} or fewer in length."),
    "maxItems": ("BASE_TYPE_MAX_LENGTH", "Must be {} or fewer in length."),
    "minLength": ("BASE_TYPE_MIN_LENGTH", "Must be {} or more in length."),
    "minItems": ("BASE_TYPE_MIN_LENGTH", "Must be {} or more in length."),
    "maximum": ("NUMBER_TYPE_MAX", "int value should be less than or equal to {}."),
    "minimum": ("NUMBER_TYPE_MIN", "int value should be greater than or equal to {}."),
    "required": ("BASE_TYPE_REQUIRED", "This field is required"),
}


def discord_errors(violations: list[Violation]) -> dict[str, Any]:
    """Discord's nested ``errors`` object for a 50035 reply."""
    tree: dict[str, Any] = {}
    for v in violations:
        if v.keyword in _CODES:
            code, template = _CODES[v.keyword]
            text = template.format(v.limit)
        else:
            code, text = "BASE_TYPE_INVALID", v.message
        merge_errors(tree, field_errors(list(v.path), code, text))
    return tree
