"""The one way conveyor runs its Lua scripts: ``conveyor/broker/lua/*.lua``, by their SHA1.

Each script is a ``.lua`` file whose header names its ``KEYS`` and ``ARGV`` (and, as the
documented exception, the keys it takes from data, such as the list a claim record names);
``helpers.lua`` holds the functions several share and is put in front of those that use them.
A ``Script`` reads its file once and computes its SHA1 once; a call sends ``EVALSHA`` (40
bytes, never the text); a Redis that does not know the script (restarted, failed over,
flushed: its script cache is empty) answers ``NOSCRIPT``, and the call is sent again once as
``EVAL``, which also caches it there. Pipelines, where a ``NOSCRIPT`` cannot be retried per
command, ``load`` the script first and queue ``evalsha(script.sha, …)``.

Example::

    ACK = Script("ack", helpers=True)
    ACK(client, keys=[unacked, index, claims, held], args=[tag, owner])
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import redis

__all__ = ["LUA_DIR", "Script"]

#: Where the scripts live (package data).
LUA_DIR = Path(__file__).parent / "lua"


class Script:
    """One script: ``names`` are ``.lua`` files joined in order, after ``helpers.lua`` if ``helpers``."""

    def __init__(self, *names: str, helpers: bool = False) -> None:
        self.names = (*(("helpers",) if helpers else ()), *names)
        self.text = "\n".join((LUA_DIR / f"{name}.lua").read_text(encoding="utf-8") for name in self.names)
        self.sha = hashlib.sha1(self.text.encode()).hexdigest()

    def __call__(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        """The script's reply; loaded into Redis by an ``EVAL`` if Redis does not know it."""
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            return client.eval(self.text, len(keys), *keys, *args)

    def load(self, client: Any) -> None:
        """Make Redis know the script (before a pipeline queues ``evalsha(self.sha, …)``)."""
        client.script_load(self.text)

    def __repr__(self) -> str:
        return f"Script({', '.join(self.names)}; {self.sha[:8]})"
