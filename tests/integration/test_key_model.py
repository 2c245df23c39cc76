"""Keys are made only on purpose (issue 22): a write never makes or adopts one, a stray key file
is ignored and logged, 'keys generate' makes the first and only the first, 'keys import'
records an existing key on purpose (never a retired, unrelated or compromised one), 'keys
rotate' hands over to a new key, and init/create make a key only on a database with none,
saying where. The commands run in-process (click's runner) on both databases."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, insert

from registers import service
from registers.cli import main
from registers.core.errors import NoSigningKey, RegisterError
from registers.core.handover import open_handover
from registers.core.notes import SignerKey, VerifierKey, open_checkpoint
from registers.store import schema, signing
from registers.store.engine import open_engine, writer
from tests.conftest import ROOT, RSF, fresh_database, on_postgresql
from tests.integration.helpers import load, snapshot

# The key an early benchmark wrote to keys/ and committed (de676c0): public, so never to be trusted
COMPROMISED_PRIVATE = "PRIVATE+KEY+localhost+c18994b6+AaM983BpJC6teL4JXeyx9LqacK9u4KEO+8qb6m+plcZg"
COMPROMISED_PUBLIC = "localhost+c18994b6+AZdQ60N3Nc0ZoOJP4xE057Fk5uOWQuR4eR0TJdNDOCz9"
SMALL = str(RSF / "country-small.rsf")
TERRITORY = str(ROOT / "schemas" / "territory.json")


def cli(db_url: str, *args: str, env: dict[str, str | None] | None = None) -> Result:
    """``registers --db URL ARGS`` in this process (``env``: variables set, or unset with None)."""
    return CliRunner().invoke(main, ["--db", db_url, *args], env=env)


def ok(db_url: str, *args: str, env: dict[str, str | None] | None = None) -> Result:
    done = cli(db_url, *args, env=env)
    assert done.exit_code == 0, done.output
    return done


def refused(db_url: str, *args: str, env: dict[str, str | None] | None = None) -> str:
    """The one line a refused command prints (it exits 1, printing nothing else)."""
    done = cli(db_url, *args, env=env)
    assert done.exit_code == 1, done.output
    assert done.stdout == "" and done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.output
    return done.stderr[len("error: "):-1]


NO_KEY_DIR = ("REGISTERS_KEY_DIR is not set: it must be set to the directory where private keys are kept (a database "
              "server has no default key directory)")


def _readable(source: Path, mode: int) -> str:
    """The warning 'keys import' gives for a source file others could read."""
    return (f"warning: {source} was readable by others (mode {mode:04o}): whoever could read it may hold the private "
            "key (the copy in the key directory is mode 0600); if it may have leaked, 'registers keys rotate --lost' "
            "replaces it\n")


def key_file(directory: Path, vkey: str) -> Path:
    return directory / f"{VerifierKey.parse(vkey).key_id.hex()}.key"


def private_file(path: Path, name: str = "localhost") -> tuple[Path, SignerKey]:
    """A private key made outside the platform (a backup, another server's), in file ``path``."""
    key = SignerKey.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key.text + "\n")
    return path, key


def dropped(directory: Path) -> tuple[Path, SignerKey]:
    """A private key file dropped into ``directory``, named as the platform names key files."""
    key = SignerKey.generate("localhost")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key.key_id.hex()}.key"
    path.write_text(key.text + "\n")
    return path, key


def statuses(db_url: str, env: dict[str, str | None] | None = None) -> list[tuple[str, str]]:
    """'registers keys list' as (key, marker) pairs (a key that signs nothing more is listed
    after '# ', so that the output given to --key hands out only the signing key)."""
    pairs = []
    for line in ok(db_url, "keys", "list", env=env).stdout.splitlines():
        words = line.split()
        if words[0] == "#":
            assert words[2] != "(signs)", line
            words = words[1:]
        pairs.append((words[0], words[1]))
    return pairs


# -- a write with no key at hand ------------------------------------------------------------


def test_a_write_with_no_key_is_refused_in_one_line_naming_where_it_looked(db_url: str, key_dir: Path,
                                                                            tmp_path: Path) -> None:
    said = refused(db_url, "load", SMALL, "--register", "country")
    assert said == ("no signing key is configured: this database records none; make one with 'registers keys "
                    f"generate' or record an existing one with 'registers keys import FILE' (key directory: {key_dir})")
    assert not key_dir.exists() and ok(db_url, "list").stdout == ""  # nothing stored, no key made
    assert ok(db_url, "keys", "list").stdout == ""
    vkey = ok(db_url, "keys", "generate").stdout.strip()
    ok(db_url, "load", SMALL, "--register", "country")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for directory in (elsewhere, tmp_path / "missing"):  # empty, and missing
        said = refused(db_url, "amend", "country", "GB", "name=Albion", env={"REGISTERS_KEY_DIR": str(directory)})
        assert said == (f"no signing key is configured: key {VerifierKey.parse(vkey).label} signs here, but its "
                        f"private key file {key_file(directory, vkey)} is missing (REGISTERS_KEY_DIR)")
        reads = ok(db_url, "verify", "country", env={"REGISTERS_KEY_DIR": str(directory)})  # reads go on
        assert reads.stdout.startswith("country: ok: ")
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "missing").exists()
    assert [p.name for p in key_dir.iterdir()] == [key_file(key_dir, vkey).name]


def test_generate_makes_the_first_key_and_is_refused_once_one_signs(db_url: str, key_dir: Path) -> None:
    done = ok(db_url, "keys", "generate", "--name", "registers.example.gov.uk")
    vkey = done.stdout.strip()
    path = key_file(key_dir, vkey)
    assert VerifierKey.parse(vkey).name == "registers.example.gov.uk"
    assert done.stderr == f"private key written to {path} (mode 0600); keep it secret, back it up\n"
    assert path.stat().st_mode & 0o777 == 0o600 and key_dir.stat().st_mode & 0o777 == 0o700
    said = refused(db_url, "keys", "generate")
    assert said == (f"key {VerifierKey.parse(vkey).label} signs here already: 'registers keys rotate' replaces it "
                    "(with a handover note clients can follow)")
    assert list(key_dir.iterdir()) == [path] and statuses(db_url) == [(vkey, "(signs)")]


def test_two_generates_at_once_record_one_key(db_url: str, key_dir: Path) -> None:
    """Key changes take a lock: a second 'keys generate' waits for the first, then is refused."""
    engine = open_engine(db_url)
    outcome: list[object] = []
    with writer(engine).begin() as conn:
        first, _ = signing.generate_key(conn)
        second = threading.Thread(target=lambda: outcome.append(_try_generate(engine)))
        second.start()
        second.join(timeout=0.5)
        assert second.is_alive()  # waiting for the first to commit
    second.join(timeout=30)
    assert isinstance(outcome[0], RegisterError) and "signs here already" in str(outcome[0])
    assert service.public_keys(engine) == [first.verifier.text] and len(list(key_dir.iterdir())) == 1
    engine.dispose()


def _try_generate(engine: Engine) -> object:
    try:
        return service.generate_key(engine)
    except RegisterError as exc:
        return exc


# -- stray key files -------------------------------------------------------------------------


def test_a_stray_key_file_is_never_used_and_is_logged(db_url: str, key_dir: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    engine = open_engine(db_url)
    stray, stray_key = dropped(key_dir)  # named as the platform names key files
    with caplog.at_level(logging.WARNING, logger="registers.signing"):
        with pytest.raises(NoSigningKey, match="records none"):
            load(engine, "country-small.rsf", "country")
    assert f"ignoring key file {stray}" in caplog.text
    assert service.public_keys(engine) == [] and service.list_registers(engine) == []  # not adopted
    caplog.clear()
    made = service.generate_key(engine)
    second, _ = private_file(key_dir / "second.key")  # any *.key, dropped while a recorded key signs
    with caplog.at_level(logging.WARNING, logger="registers.signing"):
        load(engine, "country-small.rsf", "country")
        service.apply_change(engine, "country", service.RecordChange("amend", "GB", {"name": "Albion"}))
    assert caplog.text.count("ignoring key file") == 1 and f"ignoring key file {second}" in caplog.text
    note = service.checkpoint_note(engine, "country")
    assert open_checkpoint(note, [VerifierKey.parse(made.vkey)])[0].size == 8  # the recorded key signed
    with pytest.raises(ValueError):
        open_checkpoint(note, [stray_key.verifier])
    caplog.clear()
    service.rotate_key(engine)  # the retired key's file stays, and is no stray
    with caplog.at_level(logging.WARNING, logger="registers.signing"):
        service.apply_change(engine, "country", service.RecordChange("amend", "GB", {"name": "Britain"}))
    assert "ignoring" not in caplog.text and key_file(key_dir, made.vkey).exists()
    engine.dispose()


# -- keys import -----------------------------------------------------------------------------


def test_import_records_an_existing_key_on_purpose_and_refuses_any_other(db_url: str, key_dir: Path,
                                                                         tmp_path: Path) -> None:
    backup, key = private_file(tmp_path / "backup" / "signing.key", "registers.example.gov.uk")
    backup.chmod(0o640)
    done = ok(db_url, "keys", "import", str(backup))
    installed = key_dir / f"{key.key_id.hex()}.key"
    assert done.stdout == key.verifier.text + "\n"
    assert done.stderr == f"private key installed at {installed} (mode 0600)\n" + _readable(backup, 0o640)
    assert installed.read_text() == key.text + "\n" and installed.stat().st_mode & 0o777 == 0o600
    assert statuses(db_url) == [(key.verifier.text, "(signs)")]
    ok(db_url, "load", SMALL, "--register", "country")
    # a second server: the recorded key installed in its own key directory signs there too
    second = {"REGISTERS_KEY_DIR": str(tmp_path / "second")}
    assert refused(db_url, "amend", "country", "GB", "name=Albion", env=second).endswith("is missing (REGISTERS_KEY_DIR)")
    assert ok(db_url, "keys", "import", str(backup), env=second).stdout == key.verifier.text + "\n"
    assert ok(db_url, "keys", "import", str(backup), env=second).stdout == key.verifier.text + "\n"  # again: a no-op
    assert (tmp_path / "second" / installed.name).stat().st_mode & 0o777 == 0o600
    third = tmp_path / "third" / installed.name  # copied straight into a key directory, readable by all
    third.parent.mkdir()
    third.write_text(backup.read_text())
    third.chmod(0o644)
    assert ok(db_url, "keys", "import", str(third), env={"REGISTERS_KEY_DIR": str(third.parent)}).stderr == \
        f"private key installed at {third} (mode 0600)\n" + _readable(third, 0o644)
    assert third.stat().st_mode & 0o777 == 0o600
    ok(db_url, "amend", "country", "GB", "name=Albion", env=second)
    engine = open_engine(db_url)
    assert service.public_keys(engine) == [key.verifier.text]
    assert open_checkpoint(service.checkpoint_note(engine, "country"), [key.verifier])[0].size == 8
    before = snapshot(engine)
    # an unrelated key while another signs
    unrelated, other = private_file(tmp_path / "unrelated.key")
    said = refused(db_url, "keys", "import", str(unrelated))
    assert said == (f"{unrelated}: key {key.verifier.label} signs here: 'registers keys rotate' replaces it (with a "
                    "handover note); an unrelated key cannot take its place")
    assert snapshot(engine) == before and not (key_dir / f"{other.key_id.hex()}.key").exists()
    # not a private key at all
    public = tmp_path / "public.key"
    public.write_text(key.verifier.text + "\n")
    assert refused(db_url, "keys", "import", str(public)).startswith(f"{public}: not a private key (")
    # a retired key: after a rotation it can never sign again
    new = ok(db_url, "keys", "rotate").stdout.strip()
    said = refused(db_url, "keys", "import", str(backup))
    assert said.startswith(f"{backup}: key {key.verifier.label} was retired on ") and said.endswith("it cannot sign again")
    assert statuses(db_url) == [(key.verifier.text, "(retired)"), (new, "(signs)")]
    engine.dispose()


def test_the_key_committed_to_the_repository_is_refused_everywhere(db_url: str, key_dir: Path,
                                                                  tmp_path: Path) -> None:
    leaked = tmp_path / "leaked.key"
    leaked.write_text(COMPROMISED_PRIVATE + "\n")
    assert SignerKey.parse(COMPROMISED_PRIVATE).verifier.text == COMPROMISED_PUBLIC  # the pair from de676c0
    said = refused(db_url, "keys", "import", str(leaked))  # on a database with no key
    assert said == ("key localhost+c18994b6 is compromised (its private key was published; see docs/operations.md): "
                    "it can never sign or be trusted")
    assert ok(db_url, "keys", "list").stdout == "" and not key_dir.exists()
    ok(db_url, "keys", "generate")
    assert refused(db_url, "keys", "import", str(leaked)) == said  # nor beside a key
    ok(db_url, "load", SMALL, "--register", "country")
    listed = tmp_path / "keys.txt"
    listed.write_text(f"# the server's keys\n{COMPROMISED_PUBLIC}\n")
    for target in ("country", "http://127.0.0.1:9/country/"):  # refused before anything is read or fetched
        for given in (COMPROMISED_PUBLIC, str(listed)):
            assert refused(db_url, "verify", target, "--key", given) == said
    # a database that adopted it (as the old code did, from keys/) signs no more until it is replaced
    with fresh_database(tmp_path, "adopted") as url:
        engine = open_engine(url)
        with writer(engine).begin() as conn:
            signing.write_private_key(key_dir, SignerKey.parse(COMPROMISED_PRIVATE))
            conn.execute(insert(schema.signing_key).values(vkey=COMPROMISED_PUBLIC, created="2024-01-01T00:00:00Z"))
        before = snapshot(engine)
        with pytest.raises(NoSigningKey, match=r"localhost\+c18994b6 is compromised .*'registers keys rotate --lost'"):
            load(engine, "country-small.rsf", "country")
        with pytest.raises(NoSigningKey, match="compromised"):
            service.rotate_key(engine)  # it signs no handover note either
        assert snapshot(engine) == before
        replaced = service.replace_lost_key(engine)
        assert replaced.old.text == COMPROMISED_PUBLIC and service.signing_key(engine) == replaced.new.vkey
        [leaked_json, _] = service.keys_json(engine)
        assert (leaked_json["status"], leaked_json["handover"]) == ("compromised", None)
        load(engine, "country-small.rsf", "country")
        engine.dispose()


# -- a database server without a key directory -----------------------------------------------


def test_without_a_key_directory_postgresql_refuses_and_sqlite_keeps_keys_beside_its_file(
        db_url: str, key_dir: Path, tmp_path: Path) -> None:
    unset: dict[str, str | None] = {"REGISTERS_KEY_DIR": None}
    if not on_postgresql():  # keys/ beside the database file (the test's key_dir is that folder too)
        vkey = ok(db_url, "keys", "generate", env=unset).stdout.strip()
        assert key_file(tmp_path / "keys", vkey).is_file()
        ok(db_url, "load", SMALL, "--register", "country", env=unset)
        return
    said = refused(db_url, "keys", "generate", env=unset)
    assert said == NO_KEY_DIR
    assert refused(db_url, "create", "territory", "--schema", TERRITORY, env=unset) == said
    backup, _key = private_file(tmp_path / "backup.key")
    assert refused(db_url, "keys", "import", str(backup), env=unset) == said
    assert refused(db_url, "load", SMALL, "--register", "country", env=unset) == (
        "no signing key is configured: this database records none; make one with 'registers keys generate' or "
        "record an existing one with 'registers keys import FILE' (REGISTERS_KEY_DIR is not set)")
    assert ok(db_url, "list").stdout == "" and ok(db_url, "keys", "list").stdout == ""
    vkey = ok(db_url, "keys", "generate").stdout.strip()  # with the directory set
    ok(db_url, "load", SMALL, "--register", "country")
    said = refused(db_url, "amend", "country", "GB", "name=Albion", env=unset)
    assert said == (f"no signing key is configured: key {VerifierKey.parse(vkey).label} signs here, but "
                    "REGISTERS_KEY_DIR is not set (a database server has no default key directory: set it to the "
                    "directory holding the private key)")
    assert ok(db_url, "verify", "country", env=unset).stdout.startswith("country: ok: ")  # reads go on
    assert refused(db_url, "keys", "rotate", env=unset) == NO_KEY_DIR  # not that the old key's file is missing
    assert refused(db_url, "keys", "rotate", "--lost", env=unset) == NO_KEY_DIR
    assert statuses(db_url) == [(vkey, "(signs)")]


# -- keys rotate and keys list ---------------------------------------------------------------


def test_rotate_hands_over_to_a_new_key_and_list_shows_statuses(db_url: str, key_dir: Path) -> None:
    old = ok(db_url, "keys", "generate").stdout.strip()
    ok(db_url, "load", SMALL, "--register", "country")
    done = ok(db_url, "keys", "rotate")
    new = done.stdout.strip()
    old_key, new_key = VerifierKey.parse(old), VerifierKey.parse(new)
    assert done.stderr == (f"{old_key.label} retired; {new_key.label} signs from now on (private key written to "
                           f"{key_file(key_dir, new)}, mode 0600)\n")
    assert key_file(key_dir, new).stat().st_mode & 0o777 == 0o600
    ok(db_url, "amend", "country", "GB", "name=Albion")
    engine = open_engine(db_url)
    [first, second] = service.keys_json(engine)
    assert (first["key"], first["status"], second["key"], second["status"]) == (old, "retired", new, "signing")
    assert ok(db_url, "keys", "list").stdout == (
        f"# {old}  (retired) since {first['created']}, retired {first['retired']}\n"
        f"{new}  (signs) since {second['created']}\n")
    assert first["retired"] == second["created"] and second["retired"] is None and second["handover"] is None
    handover = open_handover(first["handover"], [old_key])
    assert (handover.old, handover.new, handover.at) == (old_key, new_key, first["retired"])
    assert ok(db_url, "verify", "country").stdout.startswith("country: ok: ")  # old and new checkpoints verify
    assert open_checkpoint(service.checkpoint_note(engine, "country"), [new_key])[0].size == 8
    engine.dispose()


def test_rotate_without_the_old_keys_file_is_refused_in_one_line_and_lost_replaces_it(
        db_url: str, key_dir: Path) -> None:
    old = ok(db_url, "keys", "generate").stdout.strip()
    ok(db_url, "load", SMALL, "--register", "country")
    key_file(key_dir, old).unlink()
    said = refused(db_url, "keys", "rotate")
    assert said == (f"no signing key is configured: key {VerifierKey.parse(old).label} signs here, but its private "
                    f"key file {key_file(key_dir, old)} is missing (REGISTERS_KEY_DIR); a rotation needs the old key "
                    "to sign the handover note: restore its file ('registers keys import BACKUP'), or if it is lost or "
                    "leaked, 'registers keys rotate --lost' replaces it without one")
    assert statuses(db_url) == [(old, "(signs)")] and list(key_dir.iterdir()) == []
    done = ok(db_url, "keys", "rotate", "--lost")
    new = done.stdout.strip()
    assert done.stderr.startswith(f"{VerifierKey.parse(old).label} retired with no handover note; ")
    assert statuses(db_url) == [(old, "(retired)"), (new, "(signs)")]
    ok(db_url, "amend", "country", "GB", "name=Albion")
    assert ok(db_url, "verify", "country").stdout.startswith("country: ok: ")
    engine = open_engine(db_url)
    assert [k["handover"] for k in service.keys_json(engine)] == [None, None]
    engine.dispose()
    assert refused(db_url, "keys", "rotate", env={"REGISTERS_KEY_DIR": str(key_dir / "none")}).startswith(
        "no signing key is configured: key ")


def test_rotate_on_a_database_with_no_key_points_to_generate(db_url: str) -> None:
    assert refused(db_url, "keys", "rotate").startswith("no signing key is configured: this database records none")
    assert refused(db_url, "keys", "rotate", "--lost") == (
        "no key signs here yet: 'registers keys generate' makes the first one")


# -- init and create -------------------------------------------------------------------------


def _project(tmp_path: Path) -> Path:
    """A project folder shipping one register (territory), for a quick 'registers init'."""
    project = tmp_path / "project"
    (project / "fixtures").mkdir(parents=True)
    (project / "schemas").mkdir()
    (project / "schemas" / "territory.json").write_text(Path(TERRITORY).read_text())
    (project / "fixtures" / "fixtures.json").write_text(json.dumps(
        {"registers": [{"register": "territory", "schema": "territory.json"}]}))
    return project


@pytest.mark.parametrize("command", ["init", "create"])
def test_init_and_create_make_a_key_only_on_a_database_with_none_and_say_where(
        command: str, db_url: str, key_dir: Path, tmp_path: Path) -> None:
    args = ["init", "--with-fixtures", "--project", str(_project(tmp_path))] if command == "init" else \
        ["create", "territory", "--schema", TERRITORY]
    if command == "init":
        assert refused(db_url, "init", "--with-fixtures", "--project", str(tmp_path / "nowhere")).startswith(
            "no fixtures/fixtures.json")
        assert not key_dir.exists()  # a mistaken init makes no key
    done = ok(db_url, *args)
    made = ok(db_url, "keys", "list").stdout.split()[0]
    path = key_file(key_dir, made)
    assert done.stderr.startswith(f"signing key made: {made}\nits private key is in {path} (mode 0600): keep it "
                                  "secret, back it up\n")
    assert path.stat().st_mode & 0o777 == 0o600
    again = ok(db_url, *args)
    assert "signing key" not in again.stderr and list(key_dir.iterdir()) == [path]
    assert statuses(db_url) == [(made, "(signs)")]
    ok(db_url, "create", "country", "--schema", str(ROOT / "schemas" / "country.json"))  # another: no other key
    assert list(key_dir.iterdir()) == [path]
