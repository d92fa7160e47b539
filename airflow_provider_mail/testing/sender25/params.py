"""How the emulated Sender25 turns an HTTP request into the parameter hash its actions read,
and the Ruby-flavoured value tests those actions apply (``blank?``, Moonrope type checks).

Parameter sourcing (reference doc §1):

1. ``Content-Type`` starting with ``application/json`` → the JSON body is the hash. Rails tests
   the prefix case-sensitively and merges query-string params underneath; Moonrope matches
   ``application/json`` followed by ``;`` or nothing, in any case, and ignores the query string.
2. Otherwise a form/query field named ``params`` holding a JSON document.
3. Otherwise ``{}`` — no error.

Parsing happens only after authentication succeeded (both frameworks parse lazily), so a bad
body behind a bad key still yields the authentication error.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_plus

from airflow_provider_mail.testing._http import HttpRequest

_MOONROPE_JSON = re.compile(r"application/json(;|$)", re.IGNORECASE)
_FORM_TYPE = "application/x-www-form-urlencoded"
_SUBKEYS = re.compile(r"\[([^\[\]]*)\]")


class ServiceCrash(Exception):
    """An unhandled exception inside Postal: the framework answers HTTP 500."""


class MalformedParams(Exception):
    """The JSON parameter document does not parse (Rails 400 / Moonrope ``invalid-json``).

    :param details: the parser's message, as Moonrope echoes it.
    """

    def __init__(self, details: str):
        super().__init__(details)
        self.details = details


class ParameterError(Exception):
    """A ``parameter-error`` envelope: ``data`` is ``{"message": ...}`` with no code."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def source_params(request: HttpRequest, *, moonrope: bool) -> dict[str, Any]:
    """Return the parameter hash an action sees for ``request``.

    :param request: the API request.
    :param moonrope: use the Moonrope rules instead of the Rails ones.
    :raises MalformedParams: the JSON document is malformed where the framework reports it as such.
    :raises ServiceCrash: where the framework would crash instead (Rails on a bad ``params``
        field; either on a document that is not an object).
    """
    content_type = request.content_type or ""
    if moonrope:
        if _MOONROPE_JSON.match(content_type):
            return _as_hash(_parse_json(request.body))
        field = _form_fields(request).get("params")
        if field is None or isinstance(field, dict):
            return field or {}  # Rack's nested form params (params[to][]=…) are used as they are
        if not isinstance(field, str):
            raise ServiceCrash("params field is a list")
        return _as_hash(_parse_json(field.encode()))

    if content_type.startswith("application/json"):
        merged = parse_nested_query(request.query)
        if request.body.strip():  # Rails skips parsing an empty body
            document = _parse_json(request.body)
            # A non-object document is kept under "_json" (Rails' params wrapper).
            merged.update(document if isinstance(document, dict) else {"_json": document})
        return merged
    field = _form_fields(request).get("params")
    if field is None or (isinstance(field, str) and not field.strip()):
        return {}
    if not isinstance(field, str):
        raise ServiceCrash("JSON.parse received a Hash/Array")
    try:
        return _as_hash(_parse_json(field.encode()))
    except MalformedParams as exc:  # Rails parses this field in the action: an unhandled error
        raise ServiceCrash(exc.details) from None


def _as_hash(document: Any) -> dict[str, Any]:
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ServiceCrash(f"params is a {ruby_class(document)}, not a Hash")
    return document


def _reject_constant(name: str) -> Any:
    raise ValueError(f"unexpected token at '{name}'")


def _parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedParams("source sequence is illegal/malformed utf-8") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MalformedParams(f"unexpected token at '{text[exc.pos :]}'") from None
    except ValueError as exc:  # NaN / Infinity, which Ruby's parser refuses
        raise MalformedParams(str(exc)) from None


def _form_fields(request: HttpRequest) -> dict[str, Any]:
    """Rack's ``params``: query-string fields overlaid by form-encoded body fields."""
    fields = parse_nested_query(request.query)
    media_type = (request.content_type or "").split(";", 1)[0].strip().lower()
    if media_type == _FORM_TYPE or (not media_type and request.method == "POST"):
        fields.update(parse_nested_query(request.body.decode("utf-8", "replace")))
    return fields


def parse_nested_query(query: str) -> dict[str, Any]:
    """Parse ``a=1&to[]=x&h[k]=v`` the way Rack does (nested hashes and arrays).

    :param query: a query string or form-encoded body.
    """
    params: dict[str, Any] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        raw_name, has_value, raw_value = pair.partition("=")
        name = unquote_plus(raw_name)
        value = unquote_plus(raw_value) if has_value else None
        head = name.split("[", 1)[0]
        if not head:
            continue
        subkeys = _SUBKEYS.findall(name[len(head) :])
        _assign(params, head, subkeys, value)
    return params


def _assign(target: dict[str, Any], key: str, subkeys: list[str], value: Any) -> None:
    if not subkeys:
        target[key] = value
        return
    head, rest = subkeys[0], subkeys[1:]
    if head == "":
        items = target.get(key)
        if not isinstance(items, list):
            items = target[key] = []
        if not rest:
            items.append(value)
        elif items and isinstance(items[-1], dict) and rest[0] not in items[-1]:
            _assign(items[-1], rest[0], rest[1:], value)
        else:
            entry: dict[str, Any] = {}
            items.append(entry)
            _assign(entry, rest[0], rest[1:], value)
        return
    child = target.get(key)
    if not isinstance(child, dict):
        child = target[key] = {}
    _assign(child, head, rest, value)


# -- Ruby-flavoured value tests ---------------------------------------------------------------


def ruby_class(value: Any) -> str:
    """Name the Ruby class a JSON value becomes (``Moonrope``'s error texts quote it).

    :param value: a value decoded from JSON.
    """
    if value is True:
        return "TrueClass"
    if value is False:
        return "FalseClass"
    if value is None:
        return "NilClass"
    names = {int: "Integer", float: "Float", str: "String", list: "Array", dict: "Hash"}
    return names.get(type(value), type(value).__name__)


def blank(value: Any) -> bool:
    """Ruby on Rails' ``blank?``: nil, false, whitespace-only strings, empty arrays/hashes.

    :param value: any decoded JSON value.
    """
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, dict)):
        return not value
    return False


def truthy(value: Any) -> bool:
    """Ruby truthiness: everything except ``nil`` and ``false`` is true (``0`` and ``"false"`` too).

    :param value: any decoded JSON value.
    """
    return value is not None and value is not False


def moonrope_value(params: dict[str, Any], name: str) -> Any:
    """Read a parameter like Moonrope's ParamSet: an empty string reads as absent.

    :param params: the parameter hash.
    :param name: the parameter name.
    """
    value = params.get(name)
    return None if value == "" else value


_MOONROPE_TYPES: dict[str, type | tuple[type, ...]] = {"Array": list, "String": str, "Hash": dict}
# True/False also stand for the JSON numbers 1/0 here (equal keys in a Python dict).
_BOOLEANS = {True: True, False: False, "true": True, "false": False, "1": True, "0": False}


def moonrope_check(params: dict[str, Any], spec: tuple[tuple[str, str, bool], ...]) -> dict[str, Any]:
    """Validate parameters like a Moonrope action, in declaration order; first failure wins.

    :param params: the parameter hash.
    :param spec: ``(name, type, required)`` triples; type is ``Array``, ``String``, ``Hash``,
        ``Integer`` or ``boolean``.
    :returns: the values as the action reads them (absent → ``None``, booleans converted).
    :raises ParameterError: with Moonrope's exact message.
    """
    values: dict[str, Any] = {}
    for name, kind, required in spec:
        value = moonrope_value(params, name)
        if value is None:
            if required:
                raise ParameterError(f"`{name}` parameter is required but is missing")
            values[name] = None
            continue
        if kind == "boolean":
            converted = _BOOLEANS.get(value) if isinstance(value, (bool, int, str)) else None
            if converted is None or isinstance(value, float):
                raise ParameterError(f"`{name}` should be a boolean value")
            values[name] = converted
            continue
        if kind == "Integer":
            valid = isinstance(value, int) and not isinstance(value, bool)
        else:
            valid = isinstance(value, _MOONROPE_TYPES[kind])
        if not valid:
            raise ParameterError(f"`{name}` should be a `{kind}` but is a `{ruby_class(value)}`")
        values[name] = value
    return values
