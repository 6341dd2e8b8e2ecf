"""The probe policy: configuration, decisions, and the small state it needs (sampling, pollers)."""

from .config import Policy, PolicyError, ProbeMatcherConfig, RpcPeerConfig, Verdict
from .decide import Decision, ProbeMatcher, ProbePolicy
from .pollers import Poll, PollerTracker
from .sampler import Sampler, SampleSummary

__all__ = [
    "Decision",
    "Policy",
    "PolicyError",
    "Poll",
    "PollerTracker",
    "ProbeMatcher",
    "ProbeMatcherConfig",
    "ProbePolicy",
    "RpcPeerConfig",
    "SampleSummary",
    "Sampler",
    "Verdict",
]
