"""The probe policy as OTTL: `transform` statements, `filter` conditions and `count` metrics.

The Collector decides each record alone: it has no phase, no "after ready" across lines,
no pollers (a client repeating itself) and no sampling windows. So the Python decision is rendered with the line-local
facts only, and every phase-dependent case errs toward keeping the line visible:

- a failing probe (status >= 400) takes `loading_verdict` only where the line itself proves
  the server is loading (llama-box's empty request id, and only while no load deadline is
  set, since the Collector cannot tell "overdue"); otherwise it stays at
  `failed_probe_severity`, whatever level the server printed, as the Python side does after ready;
- any other probe takes the louder of `loading_verdict` and `ready_verdict`
  (keep > downgrade > drop);
- `sample` degrades to `downgrade`: a window needs state across records, so every line is
  kept, at DEBUG, and the count connector still counts them all.
"""

from __future__ import annotations

import ipaddress

from .. import names
from ..policy.decide import LOADING_STATUS, REASON_PHASE_CHANGE
from ..policy.paths import regex as path_regex
from ..policy import Policy, Verdict
from ..record import Severity
from .stanza import HEALTH_CHECK, HTTP, PHASE, typed_attributes, working_attribute_pattern

KIND = names.ATTR_LOG_KIND
VERDICT = names.ATTR_VERDICT
REASON = names.ATTR_REASON
REASON_LOADING = "probe_while_loading"
REASON_FAILED = "probe_failed"
REASON_PROBE = "probe"
REASON_CLIENT_ERROR = "client_error"
REASON_SERVER_ERROR = "server_error"

_LOUDNESS = {Verdict.DROP: 0, Verdict.DOWNGRADE: 1, Verdict.SAMPLE: 1, Verdict.KEEP: 2}


def collector_verdict(verdict: Verdict) -> Verdict:
    """What the Collector can do for a verdict: `sample` needs windows, so it downgrades."""
    return Verdict.DOWNGRADE if verdict is Verdict.SAMPLE else verdict


def probe_verdict(policy: Policy) -> Verdict:
    """The verdict for a probe whose phase the line does not tell: the louder of the two."""
    loud = max((policy.loading_verdict, policy.ready_verdict), key=lambda v: _LOUDNESS[v])
    return collector_verdict(loud)


def loading_marker_used(policy: Policy) -> bool:
    """Whether llama-box's empty rid may stand for "loading, not overdue"."""
    return policy.load_deadline_s is None


def ottl_str(text: str) -> str:
    """An OTTL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def attr(key: str) -> str:
    return f"log.attributes[{ottl_str(key)}]"


def severity_enum(severity: Severity) -> str:
    return f"SEVERITY_NUMBER_{severity.name}"


def set_severity(severity: Severity, where: str) -> list[str]:
    # The text first: `where` may test the number this pair changes.
    return [
        f"set(log.severity_text, {ottl_str(severity.name)}) where {where}",
        f"set(log.severity_number, {severity_enum(severity)}) where {where}",
    ]


def _networks(policy: Policy) -> tuple[list[str], list[str]]:
    v4 = [str(n) for n in policy.probes.clients if isinstance(n, ipaddress.IPv4Network)]
    v6 = [str(n) for n in policy.probes.clients if isinstance(n, ipaddress.IPv6Network)]
    return v4, v6


def trusted_client(policy: Policy) -> str:
    """A client the probe matcher trusts: `localhost`, or inside a network (a line that prints
    none says nothing of who asked).

    IPv4 networks are only matched against dotted addresses: Go's net package would also
    match an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`), Python's ipaddress does not.
    """
    client = attr(names.CLIENT_ADDRESS)
    terms = [f'{client} == "localhost"']
    v4, v6 = _networks(policy)
    if v4:
        terms.append(f'(IsMatch({client}, "^[0-9.]+$") and IsInCIDR({client}, [{", ".join(map(ottl_str, v4))}]))')
    if v6:
        terms.append(f'(IsMatch({client}, ":") and IsInCIDR({client}, [{", ".join(map(ottl_str, v6))}]))')
    return "(" + " or ".join(terms) + ")"


def probe_condition(policy: Policy) -> str:
    """What one line proves: a probe path from anyone, a polled path from a trusted client.
    (A client repeating itself needs more than one line: see collector-config/README.md.)"""
    p = policy.probes
    method = attr(names.HTTP_METHOD)
    methods = " or ".join(f"{method} == {ottl_str(m)}" for m in sorted(p.methods)) or "false"
    path = attr(names.URL_PATH)
    client = trusted_client(policy)
    if p.empty_rid_hint:
        client = f'({client} or {attr(names.REQUEST_ID)} == "")'
    anyone = f"IsMatch({path}, {ottl_str(path_regex(p.paths))})"
    trusted = f"(IsMatch({path}, {ottl_str(path_regex(p.poll_paths))}) and {client})"
    return f"{attr(KIND)} == nil and ({methods}) and ({anyone} or {trusted})"


def _apply(verdict: Verdict, reason: str, where: str) -> list[str]:
    """Reason first, then what follows from it: each `where` tests only what is already set."""
    tagged = f"{attr(REASON)} == {ottl_str(reason)}"
    out = [
        f"set({attr(REASON)}, {ottl_str(reason)}) where {where} and {attr(REASON)} == nil",
        f"set({attr(VERDICT)}, {ottl_str(verdict.value)}) where {tagged} and {attr(VERDICT)} == nil",
    ]
    if verdict is Verdict.DOWNGRADE:
        out += set_severity(Severity.DEBUG, tagged)
    return out


def log_statements(policy: Policy) -> list[str]:
    """The log-context statements of the `transform` processor, in order."""
    status, kind = attr(names.HTTP_STATUS), attr(KIND)
    probe = f'{kind} == "probe"'
    http = f'{kind} == "http"'
    failing = f"{status} >= 400"
    out = [
        # Types the regexes cannot give (as the dialects declare them).
        *(f"set({attr(name)}, {conv}({attr(name)})) where {attr(name)} != nil" for name, conv in sorted(typed_attributes().items())),
        # A line that states no level is INFO, as on the Python side.
        *set_severity(Severity.INFO, "log.severity_number == SEVERITY_NUMBER_UNSPECIFIED"),
        # A phase change stated below INFO is raised to INFO, as on the Python side.
        f"set({attr(REASON)}, {ottl_str(REASON_PHASE_CHANGE)}) where {attr(PHASE)} == true"
        f" and log.severity_number < {severity_enum(Severity.INFO)}",
        *set_severity(Severity.INFO, f"{attr(REASON)} == {ottl_str(REASON_PHASE_CHANGE)}"),
        # What is a probe: llama-swap's health check (an HTTP line), or GET/HEAD on a probe
        # path from a trusted client (or with llama-box's empty rid, whatever the client).
        f"set({kind}, \"probe\") where {attr(HEALTH_CHECK)} == true and {attr(HTTP)} != nil",
        f"set({kind}, \"probe\") where {probe_condition(policy)}",
        f"set({kind}, \"http\") where {kind} == nil and {attr(names.HTTP_METHOD)} != nil",
    ]
    # A failing probe: quiet only where the line proves loading (the loading answer, with
    # llama-box's empty rid), else visible.
    if loading_marker_used(policy):
        marker = f'{probe} and {status} == {LOADING_STATUS} and {attr(names.REQUEST_ID)} == ""'
        out += _apply(collector_verdict(policy.loading_verdict), REASON_LOADING, marker)
    out += _apply(Verdict.KEEP, REASON_FAILED, f"{probe} and {failing}")
    # The policy's severity, whatever letter the server printed (as the Python side does).
    out += set_severity(policy.failed_probe_severity, f"{attr(REASON)} == {ottl_str(REASON_FAILED)}")
    # Any other probe: the louder of the loading and ready verdicts.
    out += _apply(probe_verdict(policy), REASON_PROBE, probe)
    # Client traffic: the status decides, whatever letter the server printed.
    out += [
        f"set({attr(REASON)}, {ottl_str(REASON_SERVER_ERROR)}) where {http} and {status} >= 500",
        f"set({attr(REASON)}, {ottl_str(REASON_CLIENT_ERROR)}) where {http} and {status} >= 400 and {status} < 500",
        *set_severity(policy.server_error_severity, f"{attr(REASON)} == {ottl_str(REASON_SERVER_ERROR)}"),
        *set_severity(policy.client_error_severity, f"{attr(REASON)} == {ottl_str(REASON_CLIENT_ERROR)}"),
        *set_severity(Severity.INFO, f"{http} and {status} < 400"),
        f"set({attr(VERDICT)}, \"keep\") where {attr(VERDICT)} == nil",
        # The stanza operators' working attributes go.
        f"delete_matching_keys(log.attributes, {ottl_str(working_attribute_pattern())})",
    ]
    return out


def drop_conditions(policy: Policy) -> list[str]:
    """`filter` processor `log_conditions`: a record matching any is dropped."""
    return [f'{attr(VERDICT)} == "drop"']


def count_metrics() -> dict[str, dict]:
    """The `count` connector's log metrics: every probe, and every dropped line.

    The names are the Python side's, so the alert rules and the dashboard read either.
    """
    path = {"key": names.URL_PATH, "default_value": ""}
    status = {"key": names.HTTP_STATUS, "default_value": 0}
    return {
        names.METRIC_PROBES: {
            "description": "Probe lines seen by the agent, by url.path, http.response.status_code, llama.policy.verdict and llama.policy.reason",
            "conditions": [f'{attr(KIND)} == "probe"'],
            "attributes": [path, status, {"key": VERDICT}, {"key": REASON}],
        },
        names.METRIC_SUPPRESSED: {
            "description": "Lines the agent dropped, by url.path, http.response.status_code and llama.policy.reason",
            "conditions": [f'{attr(VERDICT)} == "drop"'],
            "attributes": [path, status, {"key": REASON}],
        },
    }
