"""``/openapi.json``: an OpenAPI 3 description of every endpoint the app serves."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from .. import __version__
from .bodies import CHANGE, PROPOSAL, json_schema
from .representations import json_response

blueprint = Blueprint("openapi", __name__)

_REGISTER = {"name": "register", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The register's name, e.g. country"}


def _path_param(name: str, kind: str = "string", text: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}, "description": text}


def _query(name: str, kind: str = "integer", text: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": text}


def _answer(*types: str, text: str = "OK") -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": text, "content": {t: {} for t in types}}}
    problem: dict[str, Any] = {"content": {"application/problem+json": {}}}
    responses["400"] = {"description": "A malformed number or range", **problem}
    responses["404"] = {"description": "No such register, key, entry or item", **problem}
    return responses


def _get(summary: str, params: list[dict[str, Any]], *types: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": [_REGISTER, *params], "responses": _answer(*types)}}


def _problems(described: dict[str, str]) -> dict[str, Any]:
    return {status: {"description": text, "content": {"application/problem+json": {}}}
            for status, text in described.items()}


def _post(summary: str, body: str, params: list[dict[str, Any]],
          more: dict[str, str] | None = None, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    responses = _answer(JSON, text="The new head and the change's receipt")
    responses.update(_problems({
        "401": "No token, or not a live one",
        "403": "Another register's token",
        "413": "The body is too large",
        "422": "The change is refused (the reason names the line or field)",
        **(more or {}),
    }))
    return {"post": {"summary": summary, "parameters": [_REGISTER, *params], "security": [{"custodianToken": []}],
                     "requestBody": {"required": True, "content": {body: {"schema": schema} if schema else {}}},
                     "responses": responses}}


JSON, CSV, HTML = "application/json", "text/csv;charset=UTF-8", "text/html"
NOTE, RSF = "text/plain; charset=utf-8", "application/uk-gov-rsf"
PAGE = [_query("page-index", text="Page from 1 (old clients)"), _query("page-size", text="At most 5000"),
        _query("before", text="Keyset cursor from Link: next"), _query("current", "boolean", "Leave out ended records"),
        _query("as-of", text="The records as they stood after this entry")]
# the pages of records a browser reads (HTML): keyset cursors both ways, and the page's number for people
HTML_PAGE = [_query("before", text="The next page's cursor (Next)"),
             _query("after", text="The previous page's cursor (Previous; not with q)"),
             _query("page", text="The page's number, as shown (reads nothing)"),
             _query("current", "boolean", "Leave out ended records")]
# word search (store/search.py): the grammar as the README gives it
SEARCH = _query("q", "string", "Word search: each word matches a word of the record's key, name or a field marked for "
                "search that begins with it (any case or accents), every word required; current records only, those "
                "without an end-date first; before= is then the cursor Link: next carries; not with as-of")


def _suggestion_form(what: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    """A suggestion form (suggest.py): for people, HTML; posted as a form with its page's token."""
    form = "application/x-www-form-urlencoded"
    return {
        **_get(f"The form (HTML) to suggest {what}: it files a proposal as POST /{{register}}/proposals does",
               params, HTML),
        "post": {
            "summary": f"A suggestion of {what}, sent from its form (with the page's csrf-token and cookie); the "
                       "same proposal service, rate limit and cap as POST /{register}/proposals",
            "parameters": [_REGISTER, *params],
            "requestBody": {"required": True, "content": {form: {}}},
            "responses": {"200": {"description": "Sent: the proposal, confirmed", "content": {HTML: {}}},
                          **{status: {"description": text, "content": {HTML: {}}} for status, text in (
                              ("400", "Without the form's token: nothing stored"),
                              ("422", "The form, every problem named beside its field"),
                              ("429", "Too many proposals from this client"),
                              ("503", "The register holds as many open proposals as it may"))}},
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document."""
    key = _path_param("key", text="A record's key")
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "The catalogue of registers (HTML; JSON at /index.json)",
                      "parameters": [_query("q", "string", "Search words")], "responses": _answer(HTML, JSON)}},
        "/index.json": {"get": {"summary": "The catalogue as JSON", "parameters": [_query("q", "string", "Search")],
                                "responses": _answer(JSON)}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "Serving"}}}},
        "/readyz": {"get": {"summary": "Readiness (the database answers)",
                            "responses": {"200": {"description": "Ready"}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}},
        "/metrics": {"get": {"summary": "Metrics in the Prometheus text format (unless REGISTERS_METRICS is false "
                                        "or REGISTERS_METRICS_PORT serves them elsewhere)",
                             "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}}}}},
        "/accessibility": {"get": {"summary": "The accessibility statement (HTML)",
                                   "responses": {"200": {"description": "The statement", "content": {HTML: {}}}}}},
        "/{register}/": _get("The register's page, with its records a page at a time (as /records gives a browser)",
                             [SEARCH, *HTML_PAGE], HTML),
        "/{register}/verify": _get("How to verify the register: its signed checkpoint, keys and commands", [], HTML),
        "/{register}/register": _get("Totals, last update, definition and custodian", [], JSON),
        "/{register}/entries": _get("Entries oldest first (HTML for a browser)", [_query("start"), _query("limit")],
                                    JSON, CSV, HTML),
        "/{register}/entries/{n}": _get("One entry (a one-element list)", [_path_param("n", "integer")], JSON, CSV),
        "/{register}/items/{hash}": _get("One item", [_path_param("hash", text="sha-256:<hex>")], JSON, CSV, HTML),
        "/{register}/records": _get("Records newest first, or found by word (q); a browser gets the page (HTML)",
                                    [*PAGE, SEARCH, *HTML_PAGE[1:]], JSON, CSV, HTML),
        "/{register}/records/{key}": _get("One record", [key], JSON, CSV, HTML),
        "/{register}/records/{key}/entries": _get("A record's entries, oldest first (HTML: its history, who and why)",
                                                  [key], JSON, CSV, HTML),
        "/{register}/records/{field}/{value}": _get(
            "Records whose field holds a value", [_path_param("field"), _path_param("value")], JSON, CSV),
        "/{register}/download-rsf": _get("The register as RSF", [], "application/uk-gov-rsf"),
        "/{register}/download-rsf/{n}": _get("Entries after n as RSF", [_path_param("n", "integer")],
                                              "application/uk-gov-rsf"),
        "/{register}/download-rsf/{n}/{m}": _get(
            "Entries n+1..m as RSF", [_path_param("n", "integer"), _path_param("m", "integer")],
            "application/uk-gov-rsf"),
        "/{register}/download-register": _get("The v1 zip of items and entries", [], "application/zip"),
        "/{register}/download-records.csv": _get("Every record as CSV, streamed", [], CSV),
        "/{register}/download-records.jsonl": _get("Every record as JSON lines, streamed", [], "application/x-ndjson"),
        "/{register}/proof/register/merkle:sha-256": _get("Root hash and size", [], JSON),
        "/{register}/proof/entries/{n}/{size}/merkle:sha-256": _get(
            "Audit path of entry n in the tree of size", [_path_param("n", "integer"), _path_param("size", "integer")],
            JSON),
        "/{register}/proof/consistency/{m}/{n}/merkle:sha-256": _get(
            "Consistency proof between sizes m and n", [_path_param("m", "integer"), _path_param("n", "integer")],
            JSON),
        "/keys": {"get": {"summary": "The verifier keys that signed checkpoints, one per line (C2SP)",
                          "responses": {"200": {"description": "Keys", "content": {NOTE: {}}}}}},
        "/keys.json": {"get": {"summary": "Each key's status (signing, retired), dates and the handover note by "
                                          "which a retired key named its successor",
                               "responses": {"200": {"description": "Keys", "content": {JSON: {}}}}}},
        "/{register}/keys": _get("The keys that verify this register's checkpoints, one per line: this server's, "
                                 "or a mirrored register's origin's", [], NOTE),
        "/{register}/keys.json": _get("/keys.json for the keys that verify this register (a mirror: its origin's, "
                                      "with the handover notes it followed)", [], JSON),
        "/{register}/checkpoint": _get("The user log's latest signed checkpoint (C2SP tlog-checkpoint)", [], NOTE),
        "/{register}/system/checkpoint": _get("The system log's latest signed checkpoint", [], NOTE),
        "/{register}/system/entries": _get("System entries oldest first (HTML for a browser; .json: always JSON)",
                                           [_query("start"), _query("limit")], JSON, HTML),
        "/{register}/system/proof/register/merkle:sha-256": _get("The system log's root hash and size", [], JSON),
        "/{register}/system/proof/entries/{n}/{size}/merkle:sha-256": _get(
            "Audit path of system entry n", [_path_param("n", "integer"), _path_param("size", "integer")], JSON),
        "/{register}/system/proof/consistency/{m}/{n}/merkle:sha-256": _get(
            "System log consistency proof", [_path_param("m", "integer"), _path_param("n", "integer")], JSON),
        "/{register}/system/download-rsf": _get("Every system entry and its items as RSF", [], RSF),
        "/{register}/system/download-rsf/{n}": _get(
            "System entries after n as RSF", [_path_param("n", "integer")], RSF),
        "/{register}/system/download-rsf/{n}/{m}": _get(
            "System entries n+1..m as RSF", [_path_param("n", "integer"), _path_param("m", "integer")], RSF),
        "/{register}/load-rsf": _post(
            "Load RSF (the body) into the register; a custodian token is needed", RSF,
            [_query("reason", "string", "Why (recorded with the change)")]),
        "/{register}/load-table": _post(
            "Load a table (the body: CSV, TSV, JSON or JSON lines) as 'registers load' loads a local one: diffed "
            "against the current records, every fault named (422 errors); a custodian token is needed. The body "
            "comes with its Content-Length and Content-Digest (sha-256), checked before anything is compared",
            "text/csv",
            [_query("format", "string", "csv, tsv, json or jsonl"),
             _query("history", "boolean", "A key's rows are its history, oldest first"),
             _query("dry-run", "boolean", "Answer the diff; store nothing"),
             _query("end-missing", "string", "End the records the table lacks, on this date"),
             _query("max-end", "integer", "End at most this many (default: 10, or 1% of the records if more)"),
             _query("max-errors", "integer", "Name at most this many faults (default 100)"),
             _query("reason", "string", "Why (recorded with the change)")],
            {"400": "No Content-Digest, or the bytes received are not those sent",
             "411": "No Content-Length"}),
        "/{register}/changes": _post(
            "Add, amend or end one record: {action, key, fields, date, reason}; a custodian token is needed", JSON, [],
            schema=json_schema(CHANGE)),
        "/{register}/proposals": {
            **_get("Proposed changes, newest first, each with its diff against the record now, a page at a time",
                   [_query("status", "string", "open (default), approved, rejected or all"),
                    _query("page-size", text="At most 5000"),
                    _query("before", text="Keyset cursor from Link: next (a proposal id)")], JSON, HTML),
            "post": {
                "summary": "Anyone proposes a change: {key, fields, reason, contact?, action?}; checked like the "
                           "real change; the contact is never shown",
                "parameters": [_REGISTER],
                "requestBody": {"required": True, "content": {JSON: {"schema": json_schema(PROPOSAL)}}},
                "responses": {**_answer(JSON), "201": {"description": "The proposal, open for the custodian"},
                              **_problems({"413": "The body is too large",
                                           "415": "The body is not sent as application/json",
                                           "422": "The change could never apply",
                                           "429": "Too many proposals from this client this minute",
                                           "503": "The register holds as many open proposals as it may: "
                                                  "try again after Retry-After"})},
            },
        },
        "/{register}/proposals/{id}": _get("One proposal: its change, diff, status and the custodian's reason",
                                           [_path_param("id", "integer")], JSON, HTML),
        "/{register}/proposals/{id}/{decision}": _post(
            "The custodian approves, rejects or re-checks a proposal: {reason}; approval answers with the receipt",
            JSON, [_path_param("id", "integer"), {**_path_param("decision"), "schema": {
                "type": "string", "enum": ["approve", "reject", "recheck"]}}],
            {"409": "Decided already, or stale: the record changed since it was checked"}),
        "/{register}/suggest": _suggestion_form("a new record", []),
        "/{register}/suggest/{key}": _suggestion_form("a change to one record", [key]),
        "/{register}/suggested/{id}": _get(
            "The confirmation (HTML) of a suggestion sent from its form: a panel linking to the proposal it made",
            [_path_param("id", "integer")], HTML),
        "/{register}/quality": _get(
            "The last data-quality report 'registers check' stored (when, at which size): findings, record by record, "
            "with proposed fixes; the first page of every kind, or of one kind (404 when none is stored)",
            [_query("kind", "string", "duplicate, dangling-link, invalid-value, ended-but-linked or missing-value"),
             _query("page-size", text="At most 5000"),
             _query("after", text="With kind: keyset cursor from Link: next")], JSON, HTML),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Registers", "version": __version__,
                 "description": "GOV.UK Registers v1 compatible read API; every register at /{register}/."},
        "paths": paths,
        "components": {"securitySchemes": {"custodianToken": {
            "type": "http", "scheme": "bearer", "description": "A token from 'registers token issue NAME'"}}},
    }


@blueprint.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI document."""
    return json_response(document(), {"Access-Control-Allow-Origin": "*"})
