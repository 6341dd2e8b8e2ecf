"""systemd's lines about a service unit, as the journal shows them (ollama's installer, and any
model server run as a service, is supervised so).

    Jan 08 11:29:03 host systemd[1]: ollama.service: Deactivated successfully.
    Jan 08 11:29:03 host systemd[1]: ollama.service: Scheduled restart job, restart counter is at 5.

The journald envelope is peeled off first (`envelope.py`); this reads what systemd says of the
unit. A restart it schedules is a start again (the exit before it is `failures`' ERROR when it
was not clean), and a unit deactivated is the end of a stop. `Started x.` and `Stopping x...`
carry no unit and are `lifecycle.WORDS`'.
"""

from __future__ import annotations

from otel_plugins.record import Event, Kind

from .shape import Keyed, Rule, Shape

_PRODUCER = "systemd"

UNIT_WORDS = Keyed(
    "systemd.unit",
    {
        "Scheduled": (Rule("systemd.restart", r"Scheduled restart job, restart counter is at \d+", Event.STARTING, kind=Kind.LIFECYCLE),),
        "Deactivated": (Rule("systemd.deactivated", r"Deactivated successfully\b", None, kind=Kind.LIFECYCLE),),
    },
)

SYSTEMD = (
    Shape(
        "systemd.unit", r"(?P<unit>[\w@:.\\-]+\.service): (?P<msg>.*)$", "systemd", tag_group="unit", message="msg",
        inner=UNIT_WORDS, required=True, producer=_PRODUCER, needle=".service: ",
        examples=("ollama.service: Deactivated successfully.", "ollama.service: Scheduled restart job, restart counter is at 5."),
    ),
)

__all__ = ["SYSTEMD"]
