"""``conveyor.cli.output``: text made safe for a terminal, a Redis client per command."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import click
import pytest

from conveyor.cli import output


def test_printable_escapes_control_characters_but_keeps_lines_and_tabs() -> None:
    assert output.printable("boom\x1b[2J\x1b]0;owned\x07\n\tnext") == "boom\\x1b[2J\\x1b]0;owned\\x07\n\tnext"
    assert output.printable(42) == "42"


class FakeClient:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_the_commands_client_is_closed_after_use_even_when_the_use_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given conveyor's client factory handing out a client we can watch
    client = FakeClient()
    monkeypatch.setattr("conveyor.settings.redis_client", lambda app: client)
    ctx = click.Context(click.Command("x"), obj=SimpleNamespace(app=object()))

    # When the use succeeds, its result is returned and the client closed
    assert output.with_redis(ctx, lambda given: given is client) is True
    assert client.closed

    # And when it fails, the client is closed all the same
    client.closed = False

    def broken(given: Any) -> None:
        raise ConnectionError("gone")

    with pytest.raises(ConnectionError):
        output.with_redis(ctx, broken)
    assert client.closed
