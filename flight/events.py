"""Events as typed values, made by constructors generated from the dictionary's declarations:
``EV.JOB_QUEUED(job_id="x")`` checks, when the event is made, that its arguments are exactly the
declared ones and that each value fits its field (texts cut to their field as the encoder cuts
them). A mistake is a defect of the caller, found where it is made rather than when the event is
encoded. An event is a (name, values) pair, so code that passes events on reads them as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from flight import dictionary as d
from flight.protocol.fields import FieldError, clip_texts, text_fields


class Event(NamedTuple):
    """An event report as made by its constructor: its name and its checked values."""

    name: str
    values: dict[str, Any]


class EventError(ValueError):
    """An event made with arguments its declaration does not have, or a value that does not fit."""


def _constructor(event: d.Event) -> Callable[..., Event]:
    fields = event.args
    declared = [f.name for f in fields]
    texts = text_fields(fields)

    def make(**values: Any) -> Event:
        if sorted(values) != sorted(declared):
            raise EventError(f"{event.name}: given {sorted(values)}, declared {declared}")
        values = clip_texts(texts, values)
        try:
            return Event(event.name, {f.name: f.check(values[f.name]) for f in fields})
        except FieldError as exc:
            raise EventError(f"{event.name}: {exc}") from None

    make.__name__ = make.__qualname__ = event.name
    make.__doc__ = f"{event.description} Arguments: {', '.join(declared) or 'none'}."
    return make


class _Constructors:
    """One constructor per declared event, by the event's name."""

    def __init__(self) -> None:
        for event in d.EVENTS:
            setattr(self, event.name, _constructor(event))

    def __getattr__(self, name: str) -> Callable[..., Event]:
        raise AttributeError(f"no event {name!r} in the dictionary")


EV: Any = _Constructors()
