"""The JSON request bodies the API takes, declared once as marshmallow schemas.

``ChangeBody`` (``POST /<register>/changes``) and ``ProposalBody`` (``POST
/<register>/proposals``) load a body into the typed change the service layer takes
(``core.changes.RecordChange``) with nothing re-shaped: a field's value is passed on exactly as
sent (a string, a list of strings, or null to remove the field), a property the schema does not
declare or a key given twice is refused, and the register's own rules (cardinality,
datatypes, field names) are checked once, by the item validation inside the append. The
OpenAPI document describes the same schemas (``json_schema``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import RAISE, Schema, ValidationError, post_load, validate, validates_schema
from marshmallow import fields as mf
from werkzeug.exceptions import RequestEntityTooLarge

from ..core.changes import ACTIONS, RecordChange, field_value_problem
from .problems import BadRequest, InvalidBody


class FieldValue(mf.Field):  # type: ignore[type-arg]
    """A field's value as sent: a string, a list of strings, or null (remove the field)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if field_value_problem(attr or "?", value):
            raise ValidationError("must be a string, a list of strings, or null (to remove the field)")
        return value


def _field_values() -> mf.Dict:
    # attribute ``values`` (``fields`` is the schema's own), sent and described as "fields"
    return mf.Dict(keys=mf.String(validate=validate.Length(min=1)), values=FieldValue(allow_none=True),
                   load_default=dict, data_key="fields")


class ChangeBody(Schema):
    """``{"action": "add"|"amend"|"end", "key", "fields", "date", "reason"}``: a custodian's
    change to one record (an end takes ``date``, or ``fields`` holding only its end-date)."""

    class Meta:
        unknown = RAISE

    action = mf.String(required=True, validate=validate.OneOf(ACTIONS))
    key = mf.String(required=True, validate=validate.Length(min=1))
    values = _field_values()
    date = mf.String(validate=validate.Length(min=1))
    reason = mf.String(allow_none=True)

    @validates_schema
    def _end_has_a_date(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("action") == "end":
            values, date = data.get("values", {}), data.get("date")
            if date is None and "end-date" not in values:
                raise ValidationError("an end needs a date (YYYY-MM-DD)", "date")
            if date is not None and values and values != {"end-date": date}:
                raise ValidationError("an end takes its date once: 'date', or fields holding only its end-date")
        elif "date" in data:
            raise ValidationError("only an end takes a date", "date")

    @post_load
    def _change(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """``{"change": RecordChange, "reason": str | None}``: an end's ``date`` is its end-date."""
        values = {"end-date": data["date"]} if "date" in data else data["values"]
        return {"change": RecordChange(data["action"], data["key"], values), "reason": data.get("reason")}


class ProposalBody(Schema):
    """``{"key", "fields", "reason", "contact"?, "action"?}``: anyone's proposed change (an end
    is ``{"action": "end", "fields": {"end-date": D}}``; no action: amend an existing record,
    else add)."""

    class Meta:
        unknown = RAISE

    key = mf.String(required=True, validate=validate.Length(min=1))
    values = _field_values()
    reason = mf.String(required=True, validate=validate.Length(min=1))
    contact = mf.String(allow_none=True)
    action = mf.String(allow_none=True, validate=validate.OneOf(ACTIONS))


CHANGE = ChangeBody()
PROPOSAL = ProposalBody()


def read_json(limit: int) -> Any:
    """The JSON document in the request body, read no further than ``limit`` bytes (413
    beyond); BadRequest when it is not JSON or gives an object a key twice."""
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
    try:
        value = json.loads(raw or b"null", object_pairs_hook=_no_repeats)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"the body is not JSON: {str(exc)[:200]}") from None
    _refuse_unstorable(value)
    return value


def _refuse_unstorable(value: Any) -> None:
    """BadRequest for a string (a name or a value) holding NUL, which PostgreSQL text cannot
    store, or a lone surrogate (``"\\ud800"``), which is no character and cannot be written as
    UTF-8: JSON's escapes can say both, and neither can be stored or answered."""
    pending = [value]  # walked without recursion: the body may nest as deep as JSON parsing allowed
    while pending:
        found = pending.pop()
        if isinstance(found, dict):
            pending.extend(found.keys())
            pending.extend(found.values())
        elif isinstance(found, list):
            pending.extend(found)
        elif isinstance(found, str):
            if "\x00" in found:
                raise BadRequest("the body holds a NUL character (\\u0000), which no name or value may hold")
            if not found.isascii():
                try:
                    found.encode("utf-8")
                except UnicodeEncodeError:
                    raise BadRequest("the body holds a lone surrogate (a \\ud800-\\udfff escape that is not "
                                     "half of a pair), which is not a character") from None


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the object gives '{key[:100]}' twice")
        out[key] = value
    return out


def load_body(schema: Schema, limit: int) -> dict[str, Any]:
    """The request's JSON body loaded by ``schema``: BadRequest when it is not a JSON object,
    InvalidBody (422) naming the first property that does not fit."""
    body = read_json(limit)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        return dict(schema.load(body))
    except ValidationError as exc:
        raise InvalidBody(_first(exc.messages)) from None


def _first(messages: Any, path: tuple[str, ...] = ()) -> str:
    """One line for marshmallow's nested messages: the first property and what is wrong."""
    if isinstance(messages, dict):
        name, inner = next(iter(messages.items()))
        if len(path) == 2 and path[0] == "fields" and name in ("key", "value"):  # a field name's or value's
            return _first(inner, path)
        return _first(inner, (*path, str(name)))
    if isinstance(messages, list) and messages:
        return _first(messages[0], path)
    text = str(messages).rstrip(".")
    text = text[:1].lower() + text[1:]
    if len(path) == 2 and path[0] == "fields":
        return f"field '{path[1]}': {text}"
    if not path or path == ("_schema",):
        return text
    return f"'{'.'.join(path)}': {text}"


def json_schema(schema: Schema) -> dict[str, Any]:
    """The JSON Schema of a body schema above, for the OpenAPI document."""
    properties: dict[str, Any] = {}
    required = []
    for name, declared in schema.fields.items():
        if isinstance(declared, mf.Dict):
            value = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, {"type": "null"}]}
            described: dict[str, Any] = {"type": "object", "additionalProperties": value}
        else:
            described = {"type": ["string", "null"] if declared.allow_none else "string"}
            for rule in declared.validators:
                if isinstance(rule, validate.OneOf):
                    described["enum"] = [*rule.choices, *([None] if declared.allow_none else [])]
                elif isinstance(rule, validate.Length) and rule.min:
                    described["minLength"] = rule.min
        properties[declared.data_key or name] = described
        if declared.required:
            required.append(declared.data_key or name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
