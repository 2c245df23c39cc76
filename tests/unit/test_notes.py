"""C2SP signed notes and checkpoints against the published Go and C2SP vectors."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registers.core.notes import (
    Checkpoint,
    NoteError,
    Signature,
    SignerKey,
    VerifierKey,
    add_signatures,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
    sign_note,
)
from tests.conftest import vector

VECTORS = vector("signed_note_checkpoint.json")
BY_ID = {v["id"]: v for v in VECTORS["vectors"]}
PETER = BY_ID["go-sumdb-note-peterneumann"]
ENOCH = BY_ID["go-sumdb-note-enochroot-cosign"]
DERIVED = BY_ID["derived-checkpoint-with-go-test-key"]
PETER_SIGNER = SignerKey.parse(PETER["skey"])
PETER_KEY = VerifierKey.parse(PETER["vkey"])
ENOCH_KEY = VerifierKey.parse(ENOCH["vkey"])
EM_DASH = "\u2014"


def split(note: str) -> str:
    """The text of a note, without checking anything."""
    return note[: note.rindex("\n\n") + 1]


@pytest.mark.parametrize("case", [v for v in VECTORS["vectors"] if "key_id_hex" in v], ids=lambda v: v["id"])
def test_vector_key_ids(case: dict) -> None:  # type: ignore[type-arg]
    assert key_id(case["key_name"], bytes.fromhex(case["ed25519_pub_hex"])).hex() == case["key_id_hex"]
    parsed = VerifierKey.parse(case["vkey"])
    assert (parsed.name, parsed.key_id.hex(), parsed.public_key.hex()) == (
        case["key_name"], case["key_id_hex"], case["ed25519_pub_hex"])
    assert parsed.text == case["vkey"]


@pytest.mark.parametrize("case", VECTORS["vkey_key_id_vectors"], ids=lambda v: v["key_name"])
def test_vkey_key_id_vectors(case: dict) -> None:  # type: ignore[type-arg]
    assert case["sig_type"] == 1
    assert key_id(case["key_name"], bytes.fromhex(case["pubkey_hex"])).hex() == case["key_id_hex"]
    parsed = VerifierKey.parse(case["vkey"])
    assert (parsed.name, parsed.key_id.hex(), parsed.public_key.hex()) == (
        case["key_name"], case["key_id_hex"], case["pubkey_hex"])
    assert parsed.text == case["vkey"]
    if "skey" in case:
        signer = SignerKey.parse(case["skey"])
        assert signer.verifier == parsed
        assert signer.text == case["skey"]


def test_peter_neumann_note_reproduced_byte_for_byte() -> None:
    assert PETER_SIGNER.name == "PeterNeumann"
    assert PETER_SIGNER.seed.hex() == PETER["ed25519_seed_hex"]
    assert PETER_SIGNER.key_id.hex() == PETER["key_id_hex"]
    assert PETER_SIGNER.text == PETER["skey"]
    assert PETER_SIGNER.verifier == PETER_KEY
    note = sign_note(PETER["text"], PETER_SIGNER)
    assert note == PETER["signed_note"]
    assert note.endswith("\n" + PETER["signature_line"] + "\n")


@pytest.mark.parametrize(
    "case", [v for v in VECTORS["vectors"] if v["verified"] and "signed_note" in v and "vkey" in v],
    ids=lambda v: v["id"])
def test_verified_notes_open(case: dict) -> None:  # type: ignore[type-arg]
    key = VerifierKey.parse(case["vkey"])
    opened = open_note(case["signed_note"], [key])
    assert opened.text == case.get("text", split(case["signed_note"]))
    assert [(s.name, s.key_id) for s in opened.verified] == [(key.name, key.key_id)]
    assert opened.unverified == ()
    assert opened.verified[0].line in case["signed_note"]


def test_cosigned_note_with_one_known_key() -> None:
    note = ENOCH["signed_note_two_sigs"]
    opened = open_note(note, [PETER_KEY])
    assert opened.text == ENOCH["text"]
    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert [(s.name, s.key_id.hex()) for s in opened.unverified] == [("EnochRoot", "af0cfe78")]
    assert opened.unverified[0].line == ENOCH["signature_line"] + "\n"
    both = open_note(note, [PETER_KEY, ENOCH_KEY])
    assert [s.name for s in both.verified] == ["PeterNeumann", "EnochRoot"]
    assert both.unverified == ()
    with pytest.raises(NoteError, match="note has no verifiable signatures"):
        open_note(note, [])


def test_derived_checkpoint_reproduced_byte_for_byte() -> None:
    signer = SignerKey(DERIVED["origin"], PETER_SIGNER.seed)
    assert signer.verifier.text == DERIVED["vkey"]
    checkpoint = Checkpoint(DERIVED["origin"], DERIVED["tree_size"], bytes.fromhex(DERIVED["root_hash_hex"]))
    note = sign_checkpoint(checkpoint, signer)
    assert note == DERIVED["signed_note"]
    parsed, opened = open_checkpoint(note, [VerifierKey.parse(DERIVED["vkey"])])
    assert parsed == checkpoint
    assert (parsed.origin, parsed.size, parsed.root.hex()) == (
        DERIVED["origin"], DERIVED["tree_size"], DERIVED["root_hash_hex"])
    assert opened.text == checkpoint.body
    with pytest.raises(NoteError, match="no verifiable"):
        open_checkpoint(note, [PETER_KEY])  # same public key, other name: another key id


def test_go_sumdb_tree_golden_parses() -> None:
    case = BY_ID["go-sumdb-tree-golden"]
    checkpoint = Checkpoint.parse(case["text"])
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == case["tree_size"]
    assert checkpoint.root == base64.b64decode(case["root_hash_b64"])
    assert checkpoint.root == hashlib.sha256(b"\x00hello world").digest()
    assert checkpoint.extensions == ()
    assert checkpoint.body == case["text"]


@pytest.mark.parametrize("name", ["c2sp-tlog-checkpoint-example", "c2sp-tlog-cosignature-example"])
def test_c2sp_checkpoint_examples_parse(name: str) -> None:
    case, want = BY_ID[name], BY_ID["c2sp-tlog-checkpoint-example"]  # the cosigned note is the same checkpoint
    checkpoint = Checkpoint.parse(split(case["signed_note"]))
    assert (checkpoint.origin, checkpoint.size) == (want["origin"], want["tree_size"])
    assert base64.b64encode(checkpoint.root).decode() == want["root_hash_b64"]
    assert checkpoint.body == split(case["signed_note"])
    with pytest.raises(NoteError, match="note has no verifiable signatures"):  # well-formed, key unpublished
        open_checkpoint(case["signed_note"], [PETER_KEY])


def test_cosignature_line_is_kept_when_co_signing() -> None:
    note = BY_ID["c2sp-tlog-cosignature-example"]["signed_note"]
    signer = SignerKey.generate("example.com/registers-witness")
    opened = open_note(add_signatures(note, signer), [signer.verifier])
    assert [s.name for s in opened.unverified] == ["example.com/behind-the-sofa", "witness.example.com/w1"]
    witness = opened.unverified[1]
    assert witness.key_id.hex() == "8d66cf3f"
    assert int.from_bytes(witness.signature[:8], "big") == 1679315147
    assert len(witness.signature) == 8 + 64


def test_tampered_text_is_refused() -> None:
    note = PETER["signed_note"].replace("answer", "Answer")
    assert note != PETER["signed_note"]
    with pytest.raises(NoteError, match="signature by PeterNeumann does not verify"):
        open_note(note, [PETER_KEY])


def test_tampered_signature_is_refused() -> None:
    sig = base64.b64decode(PETER["signature_line"].split(" ")[2])
    bad = base64.b64encode(sig[:-1] + bytes([sig[-1] ^ 1])).decode()
    note = PETER["text"] + "\n" + f"{EM_DASH} PeterNeumann {bad}\n"
    with pytest.raises(NoteError, match="signature by PeterNeumann does not verify"):
        open_note(note, [PETER_KEY])


def test_tampered_signature_length_is_refused() -> None:
    sig = base64.b64decode(PETER["signature_line"].split(" ")[2])
    short = base64.b64encode(sig[:-1]).decode()
    with pytest.raises(NoteError, match="does not verify"):
        open_note(PETER["text"] + "\n" + f"{EM_DASH} PeterNeumann {short}\n", [PETER_KEY])


def test_signature_by_known_key_that_fails_refuses_whole_note() -> None:
    forged = ENOCH["signed_note_two_sigs"].replace(ENOCH["signature_line"].split(" ")[2], base64.b64encode(
        ENOCH_KEY.key_id + bytes(64)).decode())
    assert open_note(forged, [PETER_KEY]).unverified  # unknown: ignored
    with pytest.raises(NoteError, match="signature by EnochRoot does not verify"):
        open_note(forged, [PETER_KEY, ENOCH_KEY])


def test_wrong_key_with_same_name_is_refused() -> None:
    impostor = SignerKey.generate("PeterNeumann")
    assert impostor.key_id != PETER_KEY.key_id
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(PETER["signed_note"], [impostor.verifier])
    with pytest.raises(NoteError, match="no verifiable signatures"):
        open_note(sign_note(PETER["text"], impostor), [PETER_KEY])
    assert not impostor.verifier.verify(PETER["text"].encode(), PETER_SIGNER.sign(PETER["text"].encode()))


GOOD = PETER["signed_note"]
GOOD_SIG = PETER["signature_line"].split(" ")[2]


@pytest.mark.parametrize(
    ("note", "message"),
    [
        pytest.param(GOOD.replace("\n\n", "\n"), "no blank line", id="missing-blank-line"),
        pytest.param(GOOD[:-1], "does not end in a newline", id="no-trailing-newline"),
        pytest.param(PETER["text"] + "\n", "no signatures", id="no-signature-lines"),
        pytest.param(GOOD.replace(GOOD_SIG, GOOD_SIG[:-2] + "!="), "not valid base64", id="bad-base64"),
        pytest.param(GOOD.replace(GOOD_SIG, GOOD_SIG.rstrip("=")), "not valid base64", id="unpadded-base64"),
        pytest.param(GOOD.replace(GOOD_SIG, GOOD_SIG[:-2] + "N="), "not canonical base64", id="stray-bits"),
        pytest.param(GOOD.replace(GOOD_SIG, "AQID"), "too short", id="short-signature"),
        pytest.param(GOOD.replace(EM_DASH, "-"), "does not start with", id="hyphen-not-em-dash"),
        pytest.param(GOOD.replace("PeterNeumann ", "Peter+Neumann "), "contains '\\+'", id="plus-in-name"),
        pytest.param(GOOD.replace(f"{EM_DASH} PeterNeumann", f"{EM_DASH}  PeterNeumann"), "key name is empty",
                     id="empty-name"),
        pytest.param(GOOD.replace("problem,", "problem,\r"), "control character", id="control-character"),
        pytest.param(GOOD.replace("problem,", "problem,\ud800"), "not valid UTF-8", id="lone-surrogate"),
        pytest.param(GOOD + "\n", "no signatures", id="trailing-blank-line"),
        pytest.param(GOOD + "trailing\n", "does not start with", id="text-after-signatures"),
        pytest.param(GOOD.replace("\n\n", "\n\n\u2014 PeterNeumann\n"), "has no signature", id="no-signature"),
        pytest.param(PETER["text"] + "\n" + (PETER["signature_line"] + "\n") * 101, "more than 100 signatures",
                     id="too-many-signatures"),
    ],
)
def test_malformed_notes_are_refused(note: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        open_note(note, [PETER_KEY])


def test_repeated_signatures_are_reported_once() -> None:
    note = GOOD + PETER["signature_line"] + "\n" + ENOCH["signature_line"] + "\n" + ENOCH["signature_line"] + "\n"
    opened = open_note(note, [PETER_KEY])
    assert (len(opened.verified), len(opened.unverified)) == (1, 1)


def test_text_may_hold_blank_lines() -> None:
    text = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    note = sign_note(text, PETER_SIGNER)
    assert open_note(note, [PETER_KEY]).text == text
    assert open_note(sign_note("\n", PETER_SIGNER), [PETER_KEY]).text == "\n"
    assert open_note(sign_note("x\n\n", PETER_SIGNER), [PETER_KEY]).text == "x\n\n"


VKEY = PETER["vkey"]
PUB64 = VKEY.split("+", 2)[2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(VKEY.replace("c74f20a3", "c74f20a4"), "does not match", id="wrong-key-id"),
        pytest.param(VKEY.replace("c74f20a3", "C74F20A3"), "8 lower-case hex", id="upper-case-id"),
        pytest.param(VKEY.replace("c74f20a3", "c74f20"), "8 lower-case hex", id="short-id"),
        pytest.param(VKEY.replace("PeterNeumann", "Peter+Neumann"), "8 lower-case hex", id="plus-in-name"),
        pytest.param(VKEY.replace("PeterNeumann", "Peter Neumann"), "contains a space", id="space-in-name"),
        pytest.param(VKEY.replace("PeterNeumann", "Peter\u00a0Neumann"), "contains a space", id="nbsp-in-name"),
        pytest.param(VKEY.replace("PeterNeumann", "Peter\u2003Neumann"), "contains a space", id="em-space-in-name"),
        pytest.param(VKEY.replace("PeterNeumann", "Peter\x00Neumann"), "control character", id="nul-in-name"),
        pytest.param(VKEY.replace("PeterNeumann", ""), "key name is empty", id="empty-name"),
        pytest.param(VKEY.replace(PUB64, PUB64[:-1] + "?"), "not valid base64", id="bad-base64"),
        pytest.param(VKEY.replace(PUB64, "Ag" + PUB64[2:]), r"not Ed25519 \(0x01\)", id="wrong-type-byte"),
        pytest.param(VKEY.replace(PUB64, base64.b64encode(b"\x01" + bytes(31)).decode()), "31 bytes, not 32",
                     id="short-key"),
        pytest.param("PeterNeumann+c74f20a3", "not <name>", id="missing-key"),
        pytest.param("PeterNeumann", "not <name>", id="name-only"),
        pytest.param(VKEY.replace(PUB64, ""), "not Ed25519", id="empty-key"),
    ],
)
def test_malformed_verifier_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        VerifierKey.parse(text)


SKEY = PETER["skey"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(SKEY.replace("c74f20a3", "af0cfe78"), "does not match", id="wrong-key-id"),
        pytest.param(SKEY.removeprefix("PRIVATE+KEY+"), "does not start with PRIVATE", id="no-prefix"),
        pytest.param(VKEY, "does not start with PRIVATE", id="verifier-key"),
        pytest.param("PRIVATE+KEY+PeterNeumann+c74f20a3", "not <name>", id="missing-key"),
        pytest.param(SKEY.replace("PeterNeumann", "Peter Neumann"), "contains a space", id="space-in-name"),
        pytest.param(SKEY[:-4] + "AAA", "not valid base64", id="bad-base64"),
    ],
)
def test_malformed_signer_keys_are_refused(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        SignerKey.parse(text)


ROOT64 = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(f"log\n08\n{ROOT64}\n", "leading zeros", id="leading-zero-size"),
        pytest.param(f"log\n00\n{ROOT64}\n", "leading zeros", id="double-zero-size"),
        pytest.param(f"log\n-1\n{ROOT64}\n", "leading zeros", id="negative-size"),
        pytest.param(f"log\n+1\n{ROOT64}\n", "leading zeros", id="plus-size"),
        pytest.param(f"log\n 1\n{ROOT64}\n", "leading zeros", id="space-in-size"),
        pytest.param(f"log\n\u0661\n{ROOT64}\n", "leading zeros", id="arabic-digit-size"),
        pytest.param(f"log\n\n{ROOT64}\n", "leading zeros", id="empty-size"),
        pytest.param(f"log\n{2**64}\n{ROOT64}\n", "64-bit", id="huge-size"),
        pytest.param(f"log\n1\n{base64.b64encode(bytes(31)).decode()}\n", "31 bytes, not 32", id="short-root"),
        pytest.param(f"log\n1\n{base64.b64encode(bytes(33)).decode()}\n", "33 bytes, not 32", id="long-root"),
        pytest.param(f"log\n1\n{ROOT64[:-1]}\n", "not valid base64", id="bad-base64-root"),
        pytest.param(f"log\n1\n{ROOT64[:-2]}9=\n", "not canonical", id="stray-bits-root"),
        pytest.param(f"\n1\n{ROOT64}\n", "origin is empty", id="empty-origin"),
        pytest.param(f"log\n1\n{ROOT64}", "does not end in a newline", id="no-trailing-newline"),
        pytest.param("log\n1\n", "fewer than 3 lines", id="missing-root"),
        pytest.param(f"log\n1\n{ROOT64}\n\n", "extension line is empty", id="empty-extension"),
        pytest.param(f"lo\tg\n1\n{ROOT64}\n", "control character", id="tab-in-origin"),
    ],
)
def test_malformed_checkpoints_are_refused(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        Checkpoint.parse(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", 1, bytes(32)), "origin is empty"),
        (("a\nb", 1, bytes(32)), "contains a newline"),
        (("log", -1, bytes(32)), "64-bit"),
        (("log", True, bytes(32)), "64-bit"),
        (("log", 1, bytes(16)), "16 bytes"),
        (("log", 1, bytes(32), ("ok", "")), "extension line is empty"),
    ],
)
def test_invalid_checkpoints_cannot_be_built(args: tuple, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(NoteError, match=message):
        Checkpoint(*args)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "note text is empty"),
        ("no newline", "does not end in a newline"),
        ("bell\a\n", "control character"),
    ],
)
def test_sign_note_refuses_bad_text(text: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        sign_note(text, PETER_SIGNER)


def test_sign_note_needs_a_signer() -> None:
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note("text\n")


@pytest.mark.parametrize(("name", "message"), [("", "empty"), ("a+b", "contains '\\+'"), ("a b", "space"),
                                             ("a\u3000b", "space"), ("a\x7fb\x1bc", "control")])
def test_key_names_are_checked(name: str, message: str) -> None:
    with pytest.raises(NoteError, match=message):
        SignerKey.generate(name)
    with pytest.raises(NoteError, match=message):
        VerifierKey.from_public_key(name, PETER_KEY.public_key)


def test_verifier_key_id_must_match() -> None:
    with pytest.raises(NoteError, match="does not match"):
        VerifierKey("PeterNeumann", ENOCH_KEY.key_id, PETER_KEY.public_key)


def test_signer_seed_length_is_checked() -> None:
    with pytest.raises(NoteError, match="31 bytes"):
        SignerKey("x", bytes(31))


def test_generate_sign_open_round_trip() -> None:
    log = SignerKey.generate("registers.example/country")
    witness = SignerKey.generate("witness.example/w1")
    assert SignerKey.parse(log.text) == log
    assert VerifierKey.parse(log.verifier.text) == log.verifier
    assert log.verifier.verify(b"m", log.sign(b"m"))
    assert not log.verifier.verify(b"n", log.sign(b"m"))
    checkpoint = Checkpoint("registers.example/country", 0, hashlib.sha256().digest(), ("extension one",))
    note = sign_checkpoint(checkpoint, log)
    parsed, opened = open_checkpoint(note, [log.verifier])
    assert parsed == checkpoint
    assert opened.verified == (Signature(log.name, log.key_id, log.sign(checkpoint.body.encode())),)
    cosigned = add_signatures(note, witness)
    assert cosigned.startswith(note)
    assert [s.name for s in open_note(cosigned, [log.verifier, witness.verifier]).verified] == [log.name, witness.name]
    assert add_signatures(cosigned, log).count(log.name + " ") == 1  # re-signing replaces, not repeats
    both = sign_note(checkpoint.body, log, witness)
    assert both == cosigned


def test_signer_repr_hides_the_seed() -> None:
    key = SignerKey.generate("x")
    seed_forms = [key.seed.hex(), base64.b64encode(key.seed).decode(), repr(key.seed), key.text]
    assert repr(key) == f"SignerKey(name='x', key_id='{key.key_id.hex()}')"
    for shown in (repr(key), str(key), f"{key}", repr([key])):
        assert not any(form in shown for form in seed_forms)
        assert "seed" not in shown
    assert repr(PETER_SIGNER) == "SignerKey(name='PeterNeumann', key_id='c74f20a3')"


LINES = st.text(st.characters(min_codepoint=0x20, codec="utf-8"), min_size=1)  # no newline, no control character


@given(
    origin=LINES,
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(LINES, max_size=3),
)
def test_checkpoint_body_round_trips(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    assert Checkpoint.parse(checkpoint.body) == checkpoint
