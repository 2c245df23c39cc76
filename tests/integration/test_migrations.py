"""Schema migrations: a database made by an older version is refused until migrated, and once
migrated it verifies, its checkpoints are signed and counted, and it carries on."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from registers import service
from registers.core.notes import VerifierKey, open_checkpoint
from registers.store import migrations
from registers.store.engine import SchemaOutdated, open_engine
from tests.integration.helpers import load


def test_a_new_database_is_made_at_the_newest_revision(engine: Engine) -> None:
    assert migrations.current_revision_of(engine) == migrations.HEAD


def test_an_old_database_is_refused_then_migrated_and_carries_on(engine: Engine, db_url: str) -> None:
    load(engine, "country-208.rsf", "country")
    load(engine, "industrial-classification.rsf", "sic")
    heads = {name: service.head(engine, name) for name in ("country", "sic")}
    migrations.downgrade(engine, migrations.BASELINE)  # as the first landed version left it
    engine.dispose()
    with pytest.raises(SchemaOutdated, match="run 'registers migrate'"):
        open_engine(db_url)
    assert service.migrate(db_url) == (migrations.BASELINE, migrations.HEAD)
    migrated = open_engine(db_url)
    keys = [VerifierKey.parse(k) for k in service.public_keys(migrated)]
    for name, head in heads.items():
        assert service.verify(migrated, name).head == head  # roots, sizes and record counts as before
        checkpoint, _ = open_checkpoint(service.checkpoint_note(migrated, name), keys)
        assert (checkpoint.size, checkpoint.root) == (head.user_size, head.user_root)
    result = service.append_items(migrated, "country", [("QX", {"country": "QX", "name": "Atlantis"})])
    assert result.head.user_records == heads["country"].user_records + 1
    assert service.verify(migrated, "country").head.user_size == 209
    assert service.migrate(db_url) == (migrations.HEAD, migrations.HEAD)
    migrated.dispose()


def test_a_database_from_before_migrations_at_the_current_schema_opens(engine: Engine, db_url: str) -> None:
    load(engine, "country-small.rsf", "country")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    reopened = open_engine(db_url)
    assert service.verify(reopened, "country").head.user_size == 7
    assert service.migrate(db_url) == (migrations.HEAD, migrations.HEAD)
    assert migrations.current_revision_of(reopened) == migrations.HEAD
    reopened.dispose()
