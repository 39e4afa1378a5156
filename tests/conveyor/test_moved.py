"""``conveyor.moved``: the module paths of 0.1 and 0.2 resolve to the moved modules, the 0.2 ones with a warning."""

from __future__ import annotations

import importlib
import re
import sys

import pytest

from conveyor.moved import MOVED, MOVED_IN_0_3


@pytest.mark.parametrize(("old", "new"), sorted(set(MOVED.items()) - set(MOVED_IN_0_3.items())))
def test_a_module_path_of_0_1_is_the_moved_module_itself(old: str, new: str) -> None:
    assert importlib.import_module(old) is importlib.import_module(new)
    assert importlib.import_module(new).__spec__.name == new  # the alias does not rename it


@pytest.mark.parametrize(("old", "new"), sorted(MOVED_IN_0_3.items()))
def test_a_path_of_0_2_still_imports_with_a_warning_naming_the_new_path(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{re.escape(old)} moved to {re.escape(new)}; .* conveyor 0\.4"):
        moved = importlib.import_module(old)
    assert moved is importlib.import_module(new)
    assert moved.__spec__.name == new


def test_the_split_wire_module_of_0_2_still_gives_every_name_with_a_warning_naming_both() -> None:
    from conveyor import keys, records

    sys.modules.pop("conveyor.wire", None)
    with pytest.warns(DeprecationWarning, match=r"conveyor\.wire was split into conveyor\.keys and conveyor\.records"):
        wire = importlib.import_module("conveyor.wire")
    assert sorted(wire.__all__) == sorted([*keys.__all__, *records.__all__])
    assert wire.dead_record is records.dead_record
    assert wire.WAKE_PREFIX == keys.WAKE_PREFIX == "conveyor:wake:"
    assert set(keys.__all__).isdisjoint(records.__all__)


def test_a_conveyor_module_that_never_existed_is_not_resolved_by_the_aliases() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"conveyor\.no_such_module"):
        importlib.import_module("conveyor.no_such_module")


def test_installing_the_aliases_again_adds_no_second_finder() -> None:
    # Given the aliases installed by `import conveyor`
    from conveyor import moved

    before = [finder for finder in sys.meta_path if isinstance(finder, moved._Alias)]
    # When install() runs again
    moved.install()
    # Then there is still one finder
    assert len(before) == 1
    assert [finder for finder in sys.meta_path if isinstance(finder, moved._Alias)] == before


def test_every_old_path_of_0_3_is_dropped_in_the_version_the_warning_names() -> None:
    sys.modules.pop("conveyor.routing", None)
    with pytest.warns(DeprecationWarning, match="conveyor.routing") as warned:
        importlib.import_module("conveyor.routing")
    [warning] = warned
    assert str(warning.message) == "conveyor.routing moved to conveyor.validation; the old path goes in conveyor 0.4"
