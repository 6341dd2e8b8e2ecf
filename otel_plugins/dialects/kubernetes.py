"""Kubernetes events, as `kubectl describe` and `kubectl get events` print them.

      Normal   Pulled     19s               kubelet            Successfully pulled image "vllm/vllm-openai:v0.7.1" in 4m47s
      Warning  Unhealthy  3s (x3 over 13s)  kubelet            Startup probe failed: Get "http://10.244.0.13:8000/health": ...
    7m45s       Normal    Killing                     pod/deepeek-playground-0             Stopping container model-runner

An event's type is its level (`Warning` is WARN, `Normal` states none) and its reason keys the
rules below: the steps of a container's start (scheduled, pulled, created, started) and its stop
are lifecycle lines. A probe failing (`Unhealthy`) keeps the kubelet's WARN, startup probes
too: the kubelet already folds its repeats into one event (`x292 over 50m`), so it floods
nothing, and a startup probe failing for fifty minutes is a server that never came up. The
kubelet restarting a container for a failed probe is `failures`' (ERROR).
"""

from __future__ import annotations

from otel_plugins.record import Event, Kind

from .shape import Keyed, Rule, Shape

_PRODUCER = "kubernetes"
_LIFECYCLE = dict(kind=Kind.LIFECYCLE)


def _rule(reason: str, pattern: str, event: Event | None = None) -> tuple[Rule, ...]:
    return (Rule("kubernetes." + reason, pattern, event, **_LIFECYCLE),)


REASONS = Keyed(
    "kubernetes.reasons",
    {
        "Scheduled": _rule("Scheduled", r"Successfully assigned \S+"),
        "Pulling": _rule("Pulling", r"Pulling image \S+"),
        "Pulled": _rule("Pulled", r"(?:Successfully pulled image|Container image \S+ already present)"),
        "Created": _rule("Created", r"Created container:? \S+"),
        "Started": _rule("Started", r"Started container:? \S+", Event.STARTING),
        "Killing": _rule("Killing", r"Stopping container:? \S+", Event.STOPPING),
    },
    by_tag=True,
)

_MESSAGE = r"(?P<msg>\S.*)$"
# The reason is the group `tag`: a tag-keyed rule table looks it up under that name (in the Collector too).
KUBERNETES = (
    Shape(
        "kubernetes.describe",
        r" *(?P<type>Normal|Warning) {2,}(?P<tag>[A-Z]\w+) +(?P<age>\S+(?: \(x\d+ over \S+\))?) {2,}(?P<source>\S+(?:, \S+)?) {2,}" + _MESSAGE,
        "kubernetes", level="type", tag_group="tag", message="msg", inner=REASONS, producer=_PRODUCER,
        examples=(
            '  Normal   Pulled     19s               kubelet            Successfully pulled image "vllm/vllm-openai:v0.7.1" in 4m47.129s',
            "  Warning  Unhealthy  3s (x3 over 13s)  kubelet            Startup probe failed: HTTP probe failed with statuscode: 503",
        ),
    ),
    Shape(
        "kubernetes.events",
        r"(?P<age>\d+[smhd]\w*|<unknown>) +(?P<type>Normal|Warning) +(?P<tag>[A-Z]\w+) +(?P<object>[\w.-]+/\S+) +" + _MESSAGE,
        "kubernetes", level="type", tag_group="tag", message="msg", inner=REASONS, producer=_PRODUCER,
        examples=("7m45s       Normal    Killing                     pod/deepeek-playground-0             Stopping container model-runner",),
    ),
)

__all__ = ["KUBERNETES", "REASONS"]
