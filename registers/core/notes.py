"""C2SP signed notes and tlog checkpoints, signed with Ed25519.

A *note* is a text (one or more lines, each ending in a newline) followed by a blank line and
one or more signature lines ``— <key name> <base64(4-byte key id ‖ signature)>``; the signed
bytes are the text including its final newline (c2sp.org/signed-note). A *checkpoint* is a note
whose text is ``<origin>\\n<tree size>\\n<base64 root hash>\\n`` plus optional extension lines
(c2sp.org/tlog-checkpoint). Keys are Ed25519 (signature type 0x01) with the key id
``SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`` and the text forms used by Go's
``golang.org/x/mod/sumdb/note``: ``<name>+<hex id>+<base64(0x01 ‖ key)>`` for a verifier key and
``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 ‖ seed)>`` for a signer key.

Everything here is pure: no I/O, no database. Every malformed or unverifiable input raises
``NoteError`` with a one-line message.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01  # the signature type byte of Ed25519 note signatures
KEY_ID_SIZE = 4
KEY_SIZE = 32
SIGNATURE_SIZE = 64
ROOT_SIZE = 32
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16
MAX_TREE_SIZE = 2**64 - 1
SIGNATURE_PREFIX = "\u2014 "  # EM DASH, SPACE
PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX_ID = re.compile(r"[0-9a-f]{8}")
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note, checkpoint or key that is malformed or does not verify."""


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte id of the Ed25519 key ``public_key`` named ``name``:
    SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:KEY_ID_SIZE]


def check_key_name(name: str) -> None:
    """Raise NoteError unless ``name`` is a valid key name: non-empty, without '+', Unicode
    spaces or control characters."""
    if not name:
        raise NoteError("key name is empty")
    if "+" in name:
        raise NoteError(f"key name {name!r} contains '+'")
    if any(c.isspace() for c in name):
        raise NoteError(f"key name {name!r} contains a space")
    if any(c < " " for c in name):
        raise NoteError(f"key name {name!r} contains a control character")


def _b64decode(text: str, what: str) -> bytes:
    """The bytes of canonical standard base64 ``text`` (padded, no stray bits)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _key_bytes(encoded: str, what: str) -> bytes:
    """The 32 key bytes of ``base64(0x01 ‖ key)``."""
    raw = _b64decode(encoded, what)
    if not raw or raw[0] != ED25519:
        kind = f"0x{raw[0]:02x}" if raw else "missing"
        raise NoteError(f"{what} type is {kind}, not Ed25519 (0x01)")
    if len(raw) != 1 + KEY_SIZE:
        raise NoteError(f"{what} is {len(raw) - 1} bytes, not {KEY_SIZE}")
    return raw[1:]


def _split_key(text: str, what: str) -> tuple[str, str, bytes]:
    """The name, hex key id and key bytes of ``<name>+<hex key id>+<base64(0x01 ‖ key)>``."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"{what} is not <name>+<key id>+<key>")
    name, hex_id, encoded = parts
    check_key_name(name)
    if not _HEX_ID.fullmatch(hex_id):
        raise NoteError(f"key id {hex_id!r} is not 8 lower-case hex digits")
    return name, hex_id, _key_bytes(encoded, what)


def _check_key_id(hex_id: str, name: str, public_key: bytes) -> None:
    """NoteError unless ``hex_id`` is the id of ``public_key`` named ``name``."""
    want = key_id(name, public_key).hex()
    if hex_id != want:
        raise NoteError(f"key id {hex_id} does not match key {name} (its id is {want})")


@dataclass(frozen=True)
class VerifierKey:
    """A public Ed25519 note key; its key id always matches its name and public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.public_key) != KEY_SIZE:
            raise NoteError(f"Ed25519 public key is {len(self.public_key)} bytes, not {KEY_SIZE}")
        if self.key_id != key_id(self.name, self.public_key):
            raise NoteError(f"key id {self.key_id.hex()} does not match key {self.name}")

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """The key written ``<name>+<hex key id>+<base64(0x01 ‖ public key)>``; NoteError when
        the text is malformed, not Ed25519, or its key id does not match."""
        name, hex_id, public_key = _split_key(text, "verifier key")
        _check_key_id(hex_id, name, public_key)
        return cls.from_public_key(name, public_key)

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> VerifierKey:
        """The verifier key of the 32-byte Ed25519 ``public_key`` named ``name``."""
        return cls(name, key_id(name, public_key), public_key)

    @property
    def label(self) -> str:
        """``name+hex key id``: how a signature line names this key."""
        return f"{self.name}+{self.key_id.hex()}"

    @property
    def text(self) -> str:
        """The key's text form, which ``parse`` reads back."""
        return f"{self.name}+{self.key_id.hex()}+{_b64encode(bytes([ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True exactly when ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True, repr=False)
class SignerKey:
    """A private Ed25519 note key (its 32-byte seed); its repr never shows the seed."""

    name: str
    seed: bytes

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if len(self.seed) != KEY_SIZE:
            raise NoteError(f"Ed25519 seed is {len(self.seed)} bytes, not {KEY_SIZE}")

    def __repr__(self) -> str:
        return f"SignerKey(name={self.name!r}, key_id={self.key_id.hex()!r})"

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        """A new random key named ``name``."""
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        """The key written ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`` (Go's
        format); NoteError when malformed, not Ed25519, or its key id does not match."""
        if not text.startswith(PRIVATE_PREFIX):
            raise NoteError(f"signer key does not start with {PRIVATE_PREFIX}")
        name, hex_id, seed = _split_key(text[len(PRIVATE_PREFIX) :], "signer key")
        key = cls(name, seed)
        _check_key_id(hex_id, name, key.verifier.public_key)
        return key

    @property
    def text(self) -> str:
        """The key's text form (secret), which ``parse`` reads back."""
        return f"{PRIVATE_PREFIX}{self.name}+{self.key_id.hex()}+{_b64encode(bytes([ED25519]) + self.seed)}"

    @functools.cached_property
    def verifier(self) -> VerifierKey:
        """The matching public key (derived once per key object)."""
        public_key = self._private().public_key().public_bytes_raw()
        return VerifierKey.from_public_key(self.name, public_key)

    @property
    def key_id(self) -> bytes:
        """The 4-byte key id."""
        return self.verifier.key_id

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self._private().sign(message)

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: key name, 4-byte key id and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    @property
    def line(self) -> str:
        """The signature line, newline included."""
        return f"{SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class OpenedNote:
    """A note whose text at least one known key signed: the signatures that verified, and those
    by keys not known (not checked)."""

    text: str
    verified: tuple[Signature, ...]
    unverified: tuple[Signature, ...]


def _check_characters(text: str, what: str) -> None:
    """NoteError unless ``text`` is valid UTF-8 with no control character but newline."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    if any(c < " " and c != "\n" for c in text):
        raise NoteError(f"{what} contains a control character")


def _check_text(text: str) -> None:
    """NoteError unless ``text`` can be a note's text: non-empty lines of valid characters."""
    if not text:
        raise NoteError("note text is empty")
    if not text.endswith("\n"):
        raise NoteError("note text does not end in a newline")
    _check_characters(text, "note text")


def _parse_signature(line: str) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(f"note signature line does not start with '{SIGNATURE_PREFIX}'")
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    check_key_name(name)
    if not encoded:
        raise NoteError(f"signature line of {name} has no signature")
    raw = _b64decode(encoded, f"signature by {name}")
    if len(raw) <= KEY_ID_SIZE:
        raise NoteError(f"signature by {name} is too short")
    return Signature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def _split_note(note: str) -> tuple[str, list[Signature]]:
    """A note's text and its signatures, parsed but not verified."""
    _check_characters(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise NoteError("note has no signatures")
    if not block.endswith("\n"):
        raise NoteError("note does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return text, [_parse_signature(line) for line in lines]


def _signature(text: str, signer: SignerKey) -> Signature:
    return Signature(signer.name, signer.key_id, signer.sign(text.encode()))


def sign_note(text: str, *signers: SignerKey) -> str:
    """The note of ``text`` signed by every signer in order; NoteError when there is no signer
    or ``text`` is empty, does not end in a newline, or holds a control character."""
    _check_text(text)
    if not signers:
        raise NoteError("a note needs at least one signer")
    return text + "\n" + "".join(_signature(text, s).line for s in signers)


def add_signatures(note: str, *signers: SignerKey) -> str:
    """``note`` with signatures by ``signers`` appended, replacing any existing signature by the
    same key (name and key id). Existing signatures are kept as they are, not verified: co-sign
    only a note whose text you have checked."""
    text, existing = _split_note(note)
    new = [_signature(text, s) for s in signers]
    replaced = {(s.name, s.key_id) for s in new}
    kept = [s for s in existing if (s.name, s.key_id) not in replaced]
    return text + "\n" + "".join(s.line for s in kept + new)


def signer_ids(note: str) -> list[str]:
    """The ``name+hex key id`` of every signature line of ``note`` (unverified), in order; an
    empty list when the note is malformed."""
    try:
        _text, signatures = _split_note(note)
    except NoteError:
        return []
    return [f"{s.name}+{s.key_id.hex()}" for s in signatures]


def open_note(note: str, verifiers: Iterable[VerifierKey]) -> OpenedNote:
    """The text and signatures of ``note``, verified with ``verifiers``: a signature whose key
    name and id match a verifier must verify; others are returned as unverified. NoteError when
    the note is malformed, a known key's signature fails, or no signature verifies."""
    known = {(v.name, v.key_id): v for v in verifiers}
    text, signatures = _split_note(note)
    message = text.encode()
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for sig in signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        if not verifier.verify(message, sig.signature):
            raise NoteError(f"signature by {sig.name} does not verify")
        if sig not in verified:
            verified.append(sig)
    if not verified:
        raise NoteError("note has no verifiable signatures")
    return OpenedNote(text, tuple(verified), tuple(unverified))


@dataclass(frozen=True)
class Checkpoint:
    """A transparency log's signed tree head: origin, tree size, RFC 6962 root hash and optional
    opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what, line in [("origin", self.origin), *(("extension line", e) for e in self.extensions)]:
            if not line:
                raise NoteError(f"checkpoint {what} is empty")
            if "\n" in line:
                raise NoteError(f"checkpoint {what} contains a newline")
            _check_characters(line, f"checkpoint {what}")
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteError(f"checkpoint tree size {self.size!r} is not a 64-bit unsigned integer")
        if len(self.root) != ROOT_SIZE:
            raise NoteError(f"checkpoint root hash is {len(self.root)} bytes, not {ROOT_SIZE}")

    @property
    def body(self) -> str:
        """The checkpoint's note text, which ``parse`` reads back."""
        lines = [self.origin, str(self.size), _b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """The checkpoint of a note text; NoteError unless it has a non-empty origin, a decimal
        size without leading zeros, a base64 32-byte root hash and non-empty extension lines."""
        if not text.endswith("\n"):
            raise NoteError("checkpoint does not end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("checkpoint has fewer than 3 lines")
        origin, size, root, *extensions = lines
        if not _TREE_SIZE.fullmatch(size):
            raise NoteError(f"checkpoint tree size {size!r} is not a decimal number without leading zeros")
        return cls(origin, int(size), _b64decode(root, "checkpoint root hash"), tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: SignerKey) -> str:
    """The signed note of ``checkpoint`` by ``signer``."""
    return sign_note(checkpoint.body, signer)


def open_checkpoint(note: str, verifiers: Iterable[VerifierKey]) -> tuple[Checkpoint, OpenedNote]:
    """The checkpoint in ``note`` and the opened note, as ``open_note`` verifies it; NoteError
    when the note does not verify or its text is not a checkpoint. The caller checks the origin."""
    opened = open_note(note, verifiers)
    return Checkpoint.parse(opened.text), opened
