"""``conveyor.extras.require_extra``: a part needing a missing optional dependency names the extra to install."""

from __future__ import annotations

import pytest

from conveyor.errors import MissingExtraError
from conveyor.extras import require_extra


def test_installed_modules_pass() -> None:
    require_extra("flower", "json", "email")  # nothing raised


def test_a_missing_module_names_itself_and_the_pip_command_for_the_extra() -> None:
    # When one of the modules is not installed
    with pytest.raises(MissingExtraError) as raised:
        require_extra("flower", "json", "conveyor_no_such_module", "conveyor_nor_this")
    # Then the message names only the missing ones, and how to install them
    assert str(raised.value) == (
        "this part of conveyor needs conveyor_no_such_module, conveyor_nor_this, which is not installed: "
        "pip install 'conveyor[flower]'"
    )


def test_the_error_is_an_import_error_so_optional_imports_can_catch_it() -> None:
    with pytest.raises(ImportError):
        require_extra("sqlalchemy", "conveyor_no_such_module")
