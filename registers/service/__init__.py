"""The operations every entry point calls: the CLI and the web app are thin skins over these.

Each function takes an Engine (see ``open_database``) and register names, and returns plain
values; user mistakes are raised as ``RegisterError`` subclasses with one-line messages.
"""

from ..client import RemoteError
from ..core.entries import entry_json, record_json
from ..loaders.tables import table_format
from .fixtures import FixtureLoad, find_fixtures, init_fixtures
from .indexes import drop_field_index, index_field, indexed_fields
from .keys import BadKey, NewKey, generate_key, read_keys, signing_key
from .logs import (
    RegisterSummary,
    append_items,
    checkpoint_note,
    consistency_proof,
    export_rsf,
    head,
    inclusion_proof,
    list_registers,
    load_rsf,
    migrate,
    open_database,
    public_keys,
    register_proof,
    root_at,
    system_patch,
    verify,
)
from .mirror import Audited, DumpVerified, Mirrored, audit, default_trust_dir, mirror, verify_dump
from .reading import (
    ChangeNote,
    HistoryLine,
    RecordNotFound,
    changes,
    export_records,
    is_current,
    list_records,
    show_record,
)
from .receipts import receipt_for
from .records import (
    NoDefinition,
    TableLoad,
    add_record,
    amend_record,
    create_register,
    default_actor,
    definition_of,
    end_record,
    load_table,
    parse_assignments,
    read_schema,
)
from .remote import remote_change, remote_load
from .tokens import Forbidden, IssuedToken, TokenInfo, Unauthorized, authorise, issue_token, list_tokens, revoke_token

__all__ = [
    "drop_field_index",
    "index_field",
    "indexed_fields",
    "Audited",
    "remote_change",
    "remote_load",
    "Forbidden",
    "IssuedToken",
    "TokenInfo",
    "Unauthorized",
    "authorise",
    "issue_token",
    "list_tokens",
    "revoke_token",
    "BadKey",
    "ChangeNote",
    "DumpVerified",
    "Mirrored",
    "FixtureLoad",
    "HistoryLine",
    "NewKey",
    "NoDefinition",
    "RecordNotFound",
    "RegisterSummary",
    "RemoteError",
    "TableLoad",
    "add_record",
    "amend_record",
    "append_items",
    "audit",
    "changes",
    "checkpoint_note",
    "consistency_proof",
    "create_register",
    "default_actor",
    "default_trust_dir",
    "definition_of",
    "end_record",
    "export_records",
    "export_rsf",
    "find_fixtures",
    "generate_key",
    "head",
    "inclusion_proof",
    "init_fixtures",
    "is_current",
    "list_records",
    "list_registers",
    "load_rsf",
    "load_table",
    "migrate",
    "mirror",
    "open_database",
    "parse_assignments",
    "public_keys",
    "read_keys",
    "read_schema",
    "receipt_for",
    "table_format",
    "record_json",
    "register_proof",
    "entry_json",
    "root_at",
    "show_record",
    "signing_key",
    "system_patch",
    "verify",
    "verify_dump",
]
