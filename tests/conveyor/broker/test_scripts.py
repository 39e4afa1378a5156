"""conveyor's Lua: each script a `.lua` file with a KEYS/ARGV header, run by one loader, on the keys it is given.

A key a script touches is one of its ``KEYS``, or one its header names as taken from data
(a list a claim record names, a key a control header names, each with the reason); a key
built from ``ARGV`` or from nothing is a failure here. A Redis that lost its script cache
(restart, failover, ``SCRIPT FLUSH``) is answered by one ``EVAL``; every other call is ``EVALSHA``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
import redis

import conveyor
from conveyor.broker.scripts import LUA_DIR, Script

pytestmark = pytest.mark.redis

PACK = Path(conveyor.__file__).parent
FILES = sorted(LUA_DIR.glob("*.lua"))
# Commands whose first argument is not a key.
NOT_KEYS = {"TIME"}
CALL = re.compile(r"redis\.call\(\s*'([A-Z]+)'\s*,\s*([^,)]+)")
# A command built at run time (redis.call(unpack(args))): its keys come from a table the header names.
DYNAMIC_CALL = re.compile(r"redis\.call\(\s*unpack\(\s*(\w+)")


def header(path: Path) -> str:
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("--"))])


def data_keys(path: Path) -> set[str]:
    text = header(path)
    start = text.find("Keys from data:")
    return set(re.findall(r"`([^`]+)`", text[start:])) if start >= 0 else set()


def key_tables(path: Path) -> set[str]:
    """Lua tables the header declares as holding only keys from KEYS (``-- Key tables: `lists` …``)."""
    text = header(path)
    start, end = text.find("Key tables:"), text.find("Keys from data:")
    return set(re.findall(r"`([^`]+)`", text[start:end])) if start >= 0 else set()


def names_key_table(argument: str, tables: set[str]) -> bool:
    """``lists[i]`` or ``unpack(args)``: an element or all of a declared key table."""
    match = re.fullmatch(r"(\w+)\[\w+\]|unpack\((\w+)", argument)
    return match is not None and (match.group(1) or match.group(2)) in tables


def all_scripts() -> list[Script]:
    found = []
    for module in pkgutil.walk_packages(conveyor.__path__, "conveyor."):
        if module.name.startswith(("conveyor.web", "conveyor.sqlalchemy", "conveyor.testing.pytest")):
            continue  # optional extras; none holds a script (checked by the text test below)
        loaded = importlib.import_module(module.name)
        found += [value for value in vars(loaded).values() if isinstance(value, Script)]
    return found


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_each_script_opens_with_what_it_does_and_its_keys_and_arguments(path: Path) -> None:
    text = header(path)
    assert re.search(r"^-- KEYS: ", text, re.MULTILINE), f"{path.name}: no '-- KEYS:' line in its header"
    assert re.search(r"^-- ARGV: ", text, re.MULTILINE), f"{path.name}: no '-- ARGV:' line in its header"
    assert not text.startswith(("-- KEYS", "-- ARGV")), f"{path.name}: say first what it does"


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_every_key_a_script_touches_is_in_keys_or_named_as_taken_from_data(path: Path) -> None:
    allowed, tables = data_keys(path), key_tables(path)
    text = path.read_text()
    for table in DYNAMIC_CALL.findall(text):
        assert table in tables, f"{path.name}: redis.call(unpack({table})): name `{table}` under 'Key tables:'"
    for command, first in CALL.findall(text):
        if command in NOT_KEYS:
            continue
        first = first.strip()
        assert re.fullmatch(r"KEYS\[\w+\]", first) or first in allowed or names_key_table(first, tables), (
            f"{path.name}: {command} {first}: a key not passed in KEYS; pass it, or name it under "
            f"'Keys from data:' with why (named there: {sorted(allowed)})"
        )


def test_no_lua_is_left_in_python_and_every_file_is_loaded() -> None:
    in_python = [path.relative_to(PACK) for path in PACK.rglob("*.py") if "redis.call(" in path.read_text()]
    assert in_python == []
    used = {name for script in all_scripts() for name in script.names}
    assert {path.stem for path in FILES} - used == set()


def test_a_wake_up_is_spelled_once_and_its_cap_is_passed_in() -> None:
    trims = {path.name for path in FILES if "'LTRIM'" in path.read_text()}
    assert trims == {"helpers.lua"}
    assert not [path.name for path in FILES if re.search(r"\b999\b", path.read_text())]


def test_a_redis_that_forgot_its_scripts_gets_one_eval_then_evalsha_only(redis_client: redis.Redis) -> None:
    script = Script("dead_take")
    redis_client.script_flush()

    def calls() -> dict[str, int]:
        stats = redis_client.info("commandstats")
        return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("eval", "evalsha")}

    before = calls()
    for _ in range(3):
        assert script(redis_client, ["conveyor:dead", "conveyor:dead:jobs"], ["nobody"]) is None
    after = calls()
    assert after["eval"] - before["eval"] == 1  # NOSCRIPT once: the text is sent once, and cached
    assert after["evalsha"] - before["evalsha"] == 3
