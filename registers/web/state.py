"""What the web app holds for its lifetime, typed: its settings, its engines, the record lookup
and the register ids it has seen. ``create_app`` stores one ``AppState`` in
``app.extensions["registers"]``; a request reads it through ``state()``."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Flask, current_app
from sqlalchemy import Engine

from ..settings import Settings
from ..store.lookup import RecordLookup

EXTENSION = "registers"


@dataclass(frozen=True)
class AppState:
    """The app's settings and what it made of them at start-up."""

    settings: Settings
    engine: Engine
    """Every read goes here: the primary, or the replica of ``REGISTERS_READ_DATABASE_URL``."""
    write_engine: Engine
    """The primary: custodians' writes, proposals, and the receipts of writes."""
    lookup: RecordLookup
    """A record by key in one statement, on a per-thread connection to ``engine``."""
    ids: dict[str, int] = field(default_factory=dict)
    """Register name -> id, remembered once read (ids never change)."""

    def close(self) -> None:
        """Close every database connection the app holds (the lookup's too)."""
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()


def install(app: Flask, app_state: AppState) -> None:
    """Give ``app`` its state (once, at creation)."""
    app.extensions[EXTENSION] = app_state


def state(app: Flask | None = None) -> AppState:
    """The state of ``app``, else of the app serving the current request."""
    found: AppState = (app or current_app).extensions[EXTENSION]
    return found
