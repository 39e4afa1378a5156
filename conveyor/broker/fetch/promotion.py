"""A worker's claims on a master that Sentinel replaced, made true on the new master.

A Sentinel promotion is announced (``+switch-master``) some time after the replica took over;
until the worker follows it (``conveyor.master_switches``), its claims and acknowledgements go
to the old master, which takes them and loses them at its demotion. A claim lost so leaves the
message queued on the new master, where it would run a second time; an acknowledgement lost so
leaves it held there, claimed by a worker that is done with it. A Sentinel channel keeps a
journal of what it claimed in the last ``PROMOTION_REPLAY_S`` (10 s), and when its fetch leaves
the replaced master it sends each of those claims again to the new one (``reclaim.lua``, one
script per message in one pipeline, keyed by delivery tag: idempotent). The message is taken out
of its queue again and held by this worker, or, if the worker acknowledged it meanwhile, taken
out and forgotten; a claim the new master has already is left as it is (or acknowledged again).

What it cannot mend: another worker that claimed the message on the new master before this
one replayed its journal runs it a second time ('gone' in the log line); a message handed back
(rejected with requeue) on the old master in that window stays held until this worker stops.

Example::

    journal = ClaimJournal()
    journal.claimed(b"default", item, tag)              # at each delivery
    journal.replay(client, keys, owner_id, acknowledged)  # once the fetch is on the new master
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Collection
from typing import Any

from conveyor.broker.scripts import Script
from conveyor.defaults import PROMOTION_REPLAY_S

__all__ = ["ClaimJournal", "RECLAIM"]

RECLAIM = Script("reclaim", helpers=True)
#: At most this many claims are remembered (10 s at 1,000 jobs a second per channel).
JOURNAL_CAP = 10_000


class ClaimJournal:
    """The claims one channel made recently: (when, list, message as claimed, delivery tag)."""

    def __init__(self, window_s: float = PROMOTION_REPLAY_S, cap: int = JOURNAL_CAP) -> None:
        self.window_s = window_s
        self._claims: deque[tuple[float, str, bytes, str]] = deque(maxlen=cap)

    def claimed(self, key: Any, item: Any, tag: str) -> None:
        self._claims.append((time.monotonic(), _text(key), item, tag))

    def replay(self, client: Any, keys: list[str], owner: str, acknowledged: Collection[str]) -> Counter[str]:
        """Send the recent claims again to ``client``'s master; how many ended each way ('claimed', 'acked', …).

        ``keys`` are the channel's unacked hash and index, the claims hash and the owner's held set.
        """
        since = time.monotonic() - self.window_s
        recent = [claim for claim in self._claims if claim[0] >= since]
        if not recent:
            return Counter()
        RECLAIM.load(client)  # a new master's script cache is empty
        with client.pipeline(transaction=False) as pipe:
            for _, key, item, tag in recent:
                pipe.evalsha(RECLAIM.sha, 5, *keys, key, tag, item, owner, int(tag in acknowledged), time.time())
            return Counter(_text(verdict) for verdict in pipe.execute())


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
