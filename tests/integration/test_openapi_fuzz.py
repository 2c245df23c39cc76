"""Schemathesis against /openapi.json: requests generated from the document for every
operation (with a custodian token, so the write endpoints are exercised too) never get a
server error."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import Engine

from registers import service
from registers.service import quality
from registers.web import create_app
from registers.web.state import state
from tests.integration.helpers import load


@schemathesis.serializer("application/uk-gov-rsf")
def _rsf(_ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


def test_no_operation_answers_with_a_server_error(engine: Engine, db_url: str) -> None:
    load(engine, "country-small.rsf", "country")
    quality.make_report(engine, "country")  # a report stored, so /quality's pages are exercised too
    token = service.issue_token(engine, "country").secret
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "MAX_UPLOAD": 100_000})
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def exercise(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

        exercise()
        operations += 1
    state(app).close()
    assert operations >= 30
    assert service.verify(engine, "country").head.user_size >= 7  # whatever was written still verifies
