"""Schema migrations: a database made by an older version is refused until migrated, and once
migrated it verifies, its checkpoints are signed and counted, and it carries on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from registers import service
from registers.core.errors import NoSigningKey
from registers.core.notes import SignerKey, VerifierKey, open_checkpoint
from registers.store import migrations, signing
from registers.store.engine import SchemaOutdated, open_engine
from tests.integration.helpers import load


def test_a_new_database_is_made_at_the_newest_revision(engine: Engine) -> None:
    assert migrations.current_revision_of(engine) == migrations.HEAD


def test_an_old_database_is_refused_then_migrated_and_carries_on(engine: Engine, db_url: str, key_dir: Path) -> None:
    load(engine, "country-208.rsf", "country")
    load(engine, "industrial-classification.rsf", "sic")
    heads = {name: service.head(engine, name) for name in ("country", "sic")}
    (stray,) = key_dir.iterdir()  # the key that signed before: forgotten by the baseline schema
    migrations.downgrade(engine, migrations.BASELINE)  # as the first landed version left it
    engine.dispose()
    with pytest.raises(SchemaOutdated, match="run 'registers migrate'"):
        open_engine(db_url)
    assert service.migrate(db_url) == (migrations.BASELINE, migrations.HEAD)
    migrated = open_engine(db_url)
    keys = [VerifierKey.parse(k) for k in service.public_keys(migrated)]
    # 'registers migrate' made the first key on purpose (the stray file in the directory is never adopted)
    assert len(keys) == 1 and service.signing_key(migrated) == keys[0].text
    made = key_dir / f"{keys[0].key_id.hex()}.key"
    assert made != stray and made.stat().st_mode & 0o777 == 0o600
    assert sorted(key_dir.iterdir()) == sorted([stray, made])
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


def test_without_a_key_directory_the_first_key_goes_beside_a_sqlite_file_and_postgresql_is_refused(
        engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The upgrade to signed checkpoints makes the first key, which needs somewhere to go: with
    no REGISTERS_KEY_DIR, keys/ beside a SQLite database file; a database server has no default,
    so nothing is migrated and the operator is told."""
    load(engine, "country-small.rsf", "country")
    migrations.downgrade(engine, migrations.BASELINE)
    engine.dispose()
    monkeypatch.delenv("REGISTERS_KEY_DIR")
    if engine.dialect.name == "sqlite":
        assert service.migrate(db_url) == (migrations.BASELINE, migrations.HEAD)
        migrated = open_engine(db_url)
        key = VerifierKey.parse(service.signing_key(migrated) or "")
        assert (Path(engine.url.database or "").parent / "keys" / f"{key.key_id.hex()}.key").is_file()
        assert service.verify(migrated, "country").head.user_size == 7
        migrated.dispose()
        return
    with pytest.raises(NoSigningKey, match="REGISTERS_KEY_DIR is not set"):
        service.migrate(db_url)
    old = open_engine(db_url, create_tables=False)
    assert migrations.current_revision_of(old) == migrations.BASELINE  # all or nothing
    old.dispose()


def test_keys_recorded_before_the_key_model_are_retired_but_the_newest(engine: Engine, db_url: str,
                                                                        key_dir: Path) -> None:
    load(engine, "country-small.rsf", "country")
    [old] = service.public_keys(engine)
    migrations.downgrade(engine, "0005")
    # as the old 'keys generate' rotated: a second key recorded, signing from then on (no handover note)
    new = SignerKey.generate("localhost")
    signing.write_private_key(key_dir, new)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO signing_key (vkey, created) VALUES (:vkey, :created)"),
                     {"vkey": new.verifier.text, "created": "2030-01-01T00:00:00Z"})
    engine.dispose()
    assert service.migrate(db_url) == ("0005", migrations.HEAD)
    migrated = open_engine(db_url)
    assert [(r.key.text, r.status, r.retired, r.handover) for r in service.key_statuses(migrated)] == [
        (old, "retired", "2030-01-01T00:00:00Z", None), (new.verifier.text, "signing", None, None)]
    service.append_items(migrated, "country", [("QX", {"country": "QX", "name": "Atlantis"})])
    assert open_checkpoint(service.checkpoint_note(migrated, "country"), [new.verifier])[0].size == 8
    assert service.verify(migrated, "country").head.user_size == 8
    migrated.dispose()
