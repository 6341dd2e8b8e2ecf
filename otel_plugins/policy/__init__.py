"""The probe policy: configuration, decisions, and the small state it needs (sampling, cadence)."""

from .cadence import CadenceTracker
from .config import Policy, PolicyError, ProbeMatcherConfig, RpcPeerConfig, Verdict
from .decide import Decision, ProbeMatcher, ProbePolicy
from .sampler import Sampler, SampleSummary

__all__ = [
    "CadenceTracker",
    "Decision",
    "Policy",
    "PolicyError",
    "ProbeMatcher",
    "ProbeMatcherConfig",
    "ProbePolicy",
    "RpcPeerConfig",
    "SampleSummary",
    "Sampler",
    "Verdict",
]
