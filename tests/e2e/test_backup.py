"""The documented backup and restore (docs/operations.md), with the real tools: the restored
database verifies, serves the same roots and signatures, and takes the next change."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from registers import service
from registers.store.engine import database_url
from tests.conftest import RSF, on_postgresql
from tests.e2e.test_cli import ok


def _backup_and_restore_sqlite(db_url: str, tmp_path: Path) -> str:
    path = db_url.removeprefix("sqlite:///")
    backup = tmp_path / "backup.db"
    subprocess.run(["sqlite3", path, f".backup '{backup}'"], check=True)
    restored = tmp_path / "restored" / "registers.db"
    restored.parent.mkdir()
    shutil.copy(backup, restored)
    return f"sqlite:///{restored}"


def _backup_and_restore_postgresql(db_url: str, tmp_path: Path) -> tuple[str, str]:
    url = database_url(db_url)
    schema = url.split("search_path%3D", 1)[1].split("&", 1)[0] if "search_path%3D" in url else \
        url.split("search_path=", 1)[1].split("&", 1)[0]
    server = url.split("?", 1)[0].replace("postgresql+psycopg://", "postgresql://")
    dump = tmp_path / "registers.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--schema={schema}", f"--file={dump}", server], check=True)
    name = f"restored_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    target = server.rsplit("/", 1)[0] + f"/{name}"
    subprocess.run(["pg_restore", f"--dbname={target}", str(dump)], check=True)
    return f"{target}?options=-csearch_path%3D{schema}", name


def test_a_backup_restores_verifies_and_carries_on(db_url: str, tmp_path: Path, key_dir: Path) -> None:
    needed = ("pg_dump", "pg_restore") if on_postgresql() else ("sqlite3",)
    missing = [tool for tool in needed if not shutil.which(tool)]
    if missing:
        pytest.fail(f"{', '.join(missing)} needed (apt-get install postgresql-client sqlite3)")
    ok(db_url, "keys", "generate")  # in key_dir, which the restore keeps (it is not in the database)
    ok(db_url, "load", str(RSF / "country-208.rsf"))
    ok(db_url, "load", str(RSF / "industrial-classification.rsf"), "--register", "sic")
    original = service.open_database(db_url)
    notes = service.checkpoint_note(original, "country"), service.checkpoint_note(original, "sic")
    keys = service.public_keys(original)
    original.dispose()
    dropped = None
    if on_postgresql():
        restored_url, dropped = _backup_and_restore_postgresql(db_url, tmp_path)
    else:
        restored_url = _backup_and_restore_sqlite(db_url, tmp_path)
    try:
        for name in ("country", "sic"):
            assert ok(restored_url, "verify", name).startswith(f"{name}: ok: ")
        # the runbook: prove the restored register against the checkpoint published before
        published = tmp_path / "published.checkpoint"
        published.write_text(notes[0], encoding="utf-8")
        restored_rsf = tmp_path / "restored.rsf"
        restored_rsf.write_text(ok(restored_url, "export", "country"), encoding="utf-8")
        proved = ok(restored_url, "verify", str(restored_rsf), "--checkpoint", str(published), "--key", keys[0])
        assert "matches the signed checkpoint at 208" in proved, proved
        restored = service.open_database(restored_url)
        assert (service.checkpoint_note(restored, "country"), service.checkpoint_note(restored, "sic")) == notes
        assert service.public_keys(restored) == keys
        restored.dispose()
        # the key directory was kept: the next change is signed by the same key
        ok(restored_url, "load", str(RSF / "country-small.rsf"), "--register", "small")
        (listed,) = ok(restored_url, "keys", "list").splitlines()  # "<key>  (signs) since <when>"
        assert listed.split()[:2] == [keys[0], "(signs)"]
        assert ok(restored_url, "verify", "small").startswith("small: ok: ")
    finally:
        if dropped:
            admin = create_engine(database_url(db_url.split("?", 1)[0]), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE {dropped} WITH (FORCE)"))
            admin.dispose()
