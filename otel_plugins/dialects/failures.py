"""Words that mean a process died, found in any line whatever its dialect and stated level.

Shells, kernels, init systems, container runtimes and supervisors report a dead child at
INFO, at DEBUG or at no level at all: `Killed`, `Segmentation fault (core dumped)`,
`signal: aborted`, `exited with code 137`, `returned non-zero exit status 1`, `Main process exited, code=killed, status=9/KILL`,
`Failed with result 'oom-kill'`, the kernel's OOM report, `Back-off restarting failed
container`, `SIGQUIT received ... one child failed`, llama-swap's `process exited but not StateStopping`. Such a line is kind ERROR at ERROR
(never lower than stated), event CRASH where a process is gone. A line that ends in
`Traceback (most recent call last):` heads a Python traceback (the crash folder's head).
An HTTP line is never one of these (its path may say `abort`).

`FAILURES` is checked after a line's dialect: a few lower-case trigger words first, then the
rules they name, in order; the first that matches decides (an exit code of 0, 130 or 143 is
a normal stop and ends the search). Every line a rule matches holds one of its words (the
Collector's routes rely on it as Python does).
"""

from __future__ import annotations

from otel_plugins.names import CRASH_PART
from otel_plugins.record import Event, Kind, Record, Severity

from .shape import Rule

_DEAD = dict(kind=Kind.ERROR, severity=Severity.ERROR)


def _rule(name: str, pattern: str, event: Event | None = Event.CRASH, **kw) -> Rule:
    kw = {**_DEAD, **kw}
    return Rule("failure." + name, pattern, event, **kw)


# (lower-case trigger words, one of which every line the rule matches holds; the rule)
FAILURES: tuple[tuple[tuple[str, ...], Rule], ...] = (
    # A normal stop reported in the same words.
    (("exit",), Rule("failure.normal_exit", r".*?\bexited with (?:exit )?(?:status )?code:? (?:0|130|143)\b", None, kind=None)),
    (("traceback",), _rule("python_traceback", r".*?Traceback \(most recent call last\):\s*$", None, const=((CRASH_PART, "head"),), producer="python")),
    # The shell's and the kernel's words for a killed or crashed process.
    (("kill",), _rule("killed", r"(?:.*?: line \d+:\s+\d+ )?Killed(?:\s{2,}.*)?\s*$")),
    (("segmentation", "dumped", "bus error", "illegal"), _rule(
        "signal_words", r"(?i:.*?\b(?:segmentation fault|core dumped|bus error|illegal instruction)\b).*",
    )),
    (("signal",), _rule("go_signal", r".*?\bsignal: (?:killed|aborted|segmentation fault|bus error|illegal instruction|floating point exception)\b.*")),
    # A signal that kills, by name, after a word saying it struck (llamafile: `crashed SIGSEGV at 0`);
    # SIGTERM and SIGINT are how a process is stopped on purpose, so they are not here.
    (("sigsegv", "sigabrt", "sigbus", "sigill", "sigfpe", "sigkill", "sigsys"), _rule(
        "signal_name",
        r".*?\b(?:crashed|caught|received|got|killed by|terminated by|died (?:of|from|with))(?: (?:a |the )?(?:fatal )?signal)?:? "
        r"SIG(?:SEGV|ABRT|BUS|ILL|FPE|KILL|SYS)\b.*",
    )),
    (("oom", "kill"), _rule(
        "oom", r"(?i:.*?(?:\boom-kill(?:er)?\b|\bout of memory: kill(?:ed)? process|\bkilled by the oom killer|\boomkilled\b|invoked oom-killer)).*",
    )),
    # Exit codes and statuses: docker compose, Python's multiprocessing, Go's exec.
    (("exit", "died", "terminated"), _rule(
        "exit_code",
        # `code null`: Node's child_process for a child a signal ended (Jan's, LM Studio's supervisors)
        r".*?(?:\b(?:exited|died|terminated|ended)(?: unexpectedly| abnormally)? with (?:exit )?(?:status )?(?:code|status):? ?(?:-?[1-9]\d*|0x[0-9a-fA-F]+|null)\b"
        r"|\bexit status (?:[1-9]\d*|0x[0-9a-fA-F]+)\b|\bterminated unexpectedly\b|\bnon-zero exit (?:code|status)\b"
        # A negative code is Python's `returncode` of a child a signal ended (SGLang's launcher: `Exit code: -9`).
        r"|\b[Ee]xit code:? -[1-9]\d*\b).*",
    )),
    # Open MPI's mpirun (multi-GPU TensorRT-LLM) about a rank that failed.
    (("returned",), _rule("mpi_job", r".*?\bterminated normally, but \d+ process(?:es)? returned\b.*")),
    # systemd and Kubernetes.
    (("exit", "fail"), _rule(
        "systemd", r".*?(?:[Mm]ain process exited, code=(?:killed|dumped|exited, status=[1-9]\d*)\b|Failed with result '(?:oom-kill|core-dump|signal|watchdog|exit-code|timeout)').*",
    )),
    (("fail", "crash"), _rule(
        "kubernetes", r".*?(?:Back-off restarting failed container|CrashLoopBackOff|failed (?:startup|liveness) probe, will be restarted).*",
    )),
    # asyncio reporting a task's exception nobody retrieved (its traceback follows): not a death.
    (("future",), _rule("asyncio_task", r".*?\bfuture: <Task finished .*\bexception=[A-Za-z_][\w.]*\(.*", None)),
    # A model that failed to load, whoever says so and at whatever level (LocalAI prints its
    # backends' load failures at INF, Triton its models' at I, naming the model in quotes). No
    # phase follows from it: a supervisor may try another backend, a server load other models.
    (("fail",), _rule("load_failed", r"(?i:.*?\bfailed to load (?:the )?(?:model\b|'[^']+')).*", None)),
    # A supervisor about its child: failed, died, crashed, was killed or signalled.
    # A Ray Serve replica or actor, an SGLang scheduler, a TGI shard are the children of theirs.
    (("fail", "died", "dead", "crash", "exit", "kill", "signal", "received"), _rule(
        "supervisor",
        r"(?i:.*?(?:\b(?:child|worker|runner|replica|actor|scheduler|shard)(?: process)?(?: \S+)? "
        r"(?:failed|died|is dead|crashed|exited (?:unexpectedly|abnormally)|was (?:killed|signalled|signaled))\b"
        r"|\b(?:worker|child|runner) process has died\b|\bfatal signal from worker|\*\*\* sig[a-z]+ received\b"
        # llama-swap: the upstream it started exited while it was not stopping it
        r"|\bprocess exited but not StateStopping\b)).*",
    )),
)
WORDS = tuple(sorted({word for words, _rule in FAILURES for word in words}))
_RULES_OF = {word: frozenset(i for i, (words, _r) in enumerate(FAILURES) if word in words) for word in WORDS}


def mark(rec: Record) -> Record:
    """`rec`, marked as a failure when its line says a process died (or heads a traceback)."""
    if rec.kind is Kind.HTTP:
        return rec
    low = rec.text.lower()
    candidates: set[int] = set()
    for word in WORDS:
        if word in low:
            candidates |= _RULES_OF[word]
    for i in sorted(candidates):
        hit = FAILURES[i][1](rec.text)
        if hit is not None:
            if hit.severity is not None:
                rec.severity = max(rec.severity or hit.severity, hit.severity)
                rec.kind = Kind.ERROR
                if rec.event is None:
                    rec.event = hit.event
                rec.fields.update(hit.fields)
                if rec.producer is None:
                    rec.producer = hit.producer
            return rec
    return rec


__all__ = ["FAILURES", "WORDS", "mark"]
