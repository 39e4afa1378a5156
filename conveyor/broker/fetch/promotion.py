"""A worker's claims on a master that Sentinel replaced, made true on the new master.

A Sentinel promotion is announced (``+switch-master``) some time after the replica took over;
until the worker follows it (``conveyor.master_switches``), its claims and acknowledgements go
to the old master, which takes them and loses them at its demotion. A claim lost so leaves the
message queued on the new master, where it would run a second time; an acknowledgement lost so
leaves it held there, claimed by a worker that is done with it. A Sentinel channel keeps a
journal of what it claimed in the last ``PROMOTION_REPLAY_S`` (30 s), and when its fetch reaches
another master it sends each of those claims again there, before it claims anything
(``reclaim.lua``, one script per message, keyed by delivery tag: idempotent). The message is taken
out of its queue again and held by this worker, or, if the worker acknowledged it meanwhile, taken
out and forgotten; a claim the new master has already is left as it is (or acknowledged again).

The journal is sent **on the fetch's own connection**, just before its next claim: the replay lands
on the master the claims go to next, whatever the channel's other pools say. Sent through the
channel's pool instead, it could reach the old master (that pool had not followed the announcement
yet) while the next claims went to the new one: 149 of 1,000 jobs ran twice in a loaded run. A
message this worker handed back (rejected with requeue) is left out: it is queued for anyone again.

What it cannot mend: another worker that claimed the message on the new master before this
one replayed its journal runs it a second time ('gone' in the log line).

Example::

    journal = ClaimJournal()
    journal.claimed(b"default", item, tag)                              # at each delivery
    journal.replay(connection, keys, owner_id, acknowledged, handed_back)  # before the first claim there
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

    def replay(
        self,
        connection: Any,
        keys: list[str],
        owner: str,
        acknowledged: Collection[str],
        handed_back: Collection[str] = (),
    ) -> Counter[str]:
        """Send the recent claims again on ``connection`` (a redis-py connection, not a pool's client).

        ``keys`` are the channel's unacked hash and index, the claims hash and the owner's held set.
        Returns how many ended each way ('claimed', 'acked', 'done', …). The script is loaded in the
        same stream (a new master's script cache is empty); on any error the connection is closed,
        since replies are left unread, and the error raised.
        """
        since = time.monotonic() - self.window_s
        recent = [claim for claim in self._claims if claim[0] >= since and claim[3] not in handed_back]
        if not recent:
            return Counter()
        now = time.time()
        commands: list[tuple[Any, ...]] = [("SCRIPT", "LOAD", RECLAIM.text)]
        for _, key, item, tag in recent:
            commands.append(("EVALSHA", RECLAIM.sha, 5, *keys, key, tag, item, owner, int(tag in acknowledged), now))
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            verdicts = [connection.read_response() for _ in commands][1:]
        except BaseException:
            connection.disconnect()
            raise
        return Counter(_text(verdict) for verdict in verdicts)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
