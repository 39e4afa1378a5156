"""A continuable job's progress: its steps, the completed ones and the current cursor.

One ``Continuation`` per execution, built from the progress the message carried (the
``continuation`` field of the ``conveyor`` header). Steps run in the order ``perform``
meets them; a completed step is skipped, the current one resumes at its cursor. The rules
are ActiveJob 8.1's (``ActiveJob::Continuation``):

- a checkpoint (where the job may be interrupted) comes before each step once this
  execution made progress, and at every ``step.advance``, ``step.set`` and ``step.checkpoint``;
- progress means a step completed or a cursor moved in *this* execution;
- steps cannot nest, repeat, or appear in another order than the recorded one.

On the wire: ``{"completed": ["initialize"], "current": ["process", <cursor>]}``, the cursor
serialized like a job argument (``conveyor.serialization``), so ints, strings, tuples,
datetimes and registered types round-trip.

Example::

    for step in self.step("process", start=0):     # conveyor.jobs.continuable
        for record in records[step.cursor:]:
            process(record)
            step.advance()                          # cursor + 1, then a checkpoint
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conveyor.errors import Interrupt, InvalidStepError, UnadvanceableCursorError
from conveyor.serialization import deserialize, serialize

__all__ = ["Continuation", "Step"]

_UNSET: Any = object()


class Step:
    """The step running now: its ``name`` and ``cursor`` (``None`` or ``start`` at first).

    ``resumed`` is True when the step started in an earlier execution.
    """

    def __init__(self, continuation: Continuation, name: str, cursor: Any, resumed: bool) -> None:
        self._continuation = continuation
        self.name = name
        self.cursor = cursor
        self.resumed = resumed
        self.initial_cursor = cursor
        self.advanced = False

    def set(self, cursor: Any) -> None:
        """Record ``cursor`` as this step's progress, then checkpoint.

        The cursor is sent with the job if it is interrupted: any value a job argument can be.
        """
        serialize(cursor, f"the cursor of step {self.name!r}")  # fails here, not at the interruption
        self.cursor = cursor
        self.advanced = True
        self._continuation.checkpoint()

    def advance(self, to: Any = _UNSET) -> None:
        """Move the cursor to ``to`` (the last thing done), or one further when not given; then checkpoint.

        Example::

            for record in Record.after(step.cursor):
                record.process()
                step.advance(record.id)
        """
        if to is _UNSET:
            if isinstance(self.cursor, bool) or not isinstance(self.cursor, int):
                raise UnadvanceableCursorError(
                    f"step {self.name!r}: advance() adds one to an int cursor, but the cursor is {self.cursor!r}; "
                    "declare the step with start=0 or pass the new cursor: step.advance(record.id)"
                )
            to = self.cursor + 1
        self.set(to)

    def checkpoint(self) -> None:
        """A point where the job may be interrupted, without moving the cursor."""
        self._continuation.checkpoint()

    @property
    def description(self) -> str:
        return f"at step {self.name!r}" + (f", cursor {self.cursor!r}" if self.cursor is not None else "")

    def __repr__(self) -> str:
        return f"<Step {self.name!r} cursor={self.cursor!r}>"


class Continuation:
    """Progress of one execution of a continuable job (see the module docstring)."""

    #: Called at each checkpoint with (continuation); True interrupts (the test helpers set it).
    interrupt_when: Callable[[Continuation], bool] | None = None

    def __init__(self, job: Any, progress: Any, stopping: Callable[[], bool]) -> None:
        self.job = job
        self._stopping = stopping
        raw = progress if isinstance(progress, dict) else {}
        completed = raw.get("completed")
        self.completed: list[str] = [name for name in completed if isinstance(name, str)] if completed else []
        self.current: Step | None = None
        current = raw.get("current")
        if isinstance(current, list) and len(current) == 2 and isinstance(current[0], str):
            self.current = Step(self, current[0], deserialize(current[1]), resumed=True)
        self.started = bool(self.completed) or self.current is not None
        self.encountered: list[str] = []
        self.running: str | None = None
        self._completed_now = False

    @property
    def advanced(self) -> bool:
        """True once this execution completed a step or moved a cursor."""
        return self._completed_now or (self.current is not None and self.current.advanced)

    @property
    def description(self) -> str:
        if self.current is not None:
            return self.current.description
        if self.completed:
            return f"after step {self.completed[-1]!r}"
        return "before its first step"

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"completed": list(self.completed)}
        if self.current is not None:
            wire["current"] = [self.current.name, serialize(self.current.cursor, "a step cursor")]
        return wire

    def checkpoint(self) -> None:
        hook = Continuation.interrupt_when
        if self._stopping() or (hook is not None and hook(self)):
            raise Interrupt(f"Interrupted {type(self.job).__name__} {self.description}")

    def enter(self, name: str, start: Any) -> Step | None:
        """Begin step ``name``: the running ``Step``, or None when it completed in an earlier execution."""
        self._validate(name)
        if self.advanced:
            self.checkpoint()
        self.encountered.append(name)
        if name in self.completed:
            return None
        if self.current is None:
            self.current = Step(self, name, start, resumed=False)
        self.running = name
        return self.current

    def leave(self, completed: bool) -> None:
        """End the running step; ``completed`` False when its body raised or was left early."""
        self.running = None
        if completed and self.current is not None:
            self.completed.append(self.current.name)
            self.current = None
            self._completed_now = True

    def _validate(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidStepError(f"a step name is a non-empty str, got {name!r}")
        if self.running is not None:
            raise InvalidStepError(f"step {name!r} is nested inside step {self.running!r}: steps cannot nest")
        if name in self.encountered:
            raise InvalidStepError(f"step {name!r} was already run in this execution: step names must be unique")
        if self.current is not None and self.current.name != name and name not in self.completed:
            raise InvalidStepError(
                f"step {name!r} found where the job was to resume step {self.current.name!r}: "
                "steps must keep their order across deploys (rename or reorder only between runs)"
            )
        position = len(self.encountered)
        if position < len(self.completed) and self.completed[position] != name:
            raise InvalidStepError(
                f"step {name!r} found where step {self.completed[position]!r} ran before: "
                "steps must keep their order across deploys"
            )
