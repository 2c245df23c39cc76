"""Database drivers (store/dialects): the URL chooses one; a database without one is refused."""

from __future__ import annotations

import pytest

from registers.core.errors import RegisterError
from registers.store.engine import open_engine


def test_a_database_without_a_driver_is_refused_in_one_line() -> None:
    with pytest.raises(RegisterError) as refused:
        open_engine("mysql://user@localhost/registers")
    assert str(refused.value) == "registers has no driver for 'mysql' databases (it has: postgresql, sqlite)"
