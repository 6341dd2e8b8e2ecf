"""`otel-plugins report`: its figures agree with `classify --json`, it runs on every excerpt of
every corpus (the shared one, the fresh one, both holdouts) in its three output modes, and its
HTML chart renders in a real headless chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

import bed
from conftest import CORPUS_DIR
from otel_plugins import cli
from otel_plugins import estimate as est
from otel_plugins.dialects import decode, parse_line
from otel_plugins.record import Severity

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "logs" / "llama-box-rpc-load.log"
CORPORA = {
    "shared": CORPUS_DIR / "excerpts.jsonl",
    "fresh": REPO / "tests" / "testdata" / "corpus" / "excerpts.jsonl",
    "holdout": REPO / "tests" / "testdata" / "holdout" / "excerpts.jsonl",
    "holdout2": REPO / "tests" / "testdata" / "holdout2" / "excerpts.jsonl",
    "holdout3": REPO / "tests" / "testdata" / "holdout3" / "excerpts.jsonl",
    "holdout4": REPO / "tests" / "testdata" / "holdout4" / "excerpts.jsonl",
    "holdout5": REPO / "tests" / "testdata" / "holdout5" / "excerpts.jsonl",
    "holdout6": REPO / "tests" / "testdata" / "holdout6" / "excerpts.jsonl",
    "holdout7": REPO / "tests" / "testdata" / "holdout7" / "excerpts.jsonl",
}
RANK = {s.name: int(s) for s in Severity}
INFO = int(Severity.INFO)
PHASE_COLOURS = {"loading": (0xBC, 0xD7, 0xF5), "ready": (0xBF, 0xE8, 0xC4)}
PROGRESS_COLOUR = (0x1F, 0x5F, 0xBF)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")  # fmt: skip


def _excerpts(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] if path.is_file() else []


EXCERPTS = {name: _excerpts(path) for name, path in CORPORA.items()}


def _excerpt_params() -> list:
    params = []
    for name, path in CORPORA.items():
        if not EXCERPTS[name]:
            reason = f"{path} is absent (the shared corpus sits beside the checkout or in OTEL_PLUGINS_CORPUS;"
            reason += " the fresh one comes from branch wip-corpus)"
            params.append(pytest.param(name, None, marks=pytest.mark.skip(reason=reason), id=f"{name}-absent"))
        params += [pytest.param(name, i, id=f"{name}-{i}") for i in range(len(EXCERPTS[name]))]
    return params


def write_excerpt(folder: Path, corpus: str, index: int) -> Path:
    path = folder / f"{corpus}-{index:03d}.log"
    path.write_bytes("".join(line + "\n" for line in EXCERPTS[corpus][index]["lines"]).encode("utf-8", "surrogateescape"))
    return path


@pytest.fixture
def run(monkeypatch, capsys):
    """Runs `otel-plugins ARGV...` in this process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "COMMANDS", ("report", "classify"))  # the others may be mid-edit elsewhere

    def invoke(*argv: str) -> tuple[int, str, str]:
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def report_json(run, *argv: str) -> dict:
    code, out, err = run("report", "--json", "--top", "1000", *argv)
    assert code == 0, err
    return json.loads(out)


def independent(run, path: Path) -> dict:
    """The report's figures counted another way: `classify --json` for the policy's side,
    the dialects' own parse for the severity each line states."""
    code, out, err = run("classify", "--json", str(path))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    data = path.read_bytes()
    # A server stopped mid-line leaves its last line without a newline: still a line, as every reader has it.
    texts = [decode(raw) for raw in data.split(b"\n")[: None if data and not data.endswith(b"\n") else -1]]
    assert len(rows) == len(texts)
    assert not any(r["verdict"] == "sample" for r in rows), "the default policy samples nothing"
    stated = [parse_line(text).severity for text in texts]
    before = [r for r, s in zip(rows, stated) if s is None or s >= Severity.INFO]
    after = [r for r in rows if r["verdict"] != "drop" and RANK[r["severity"]] >= INFO]
    probes = [r for r in rows if r["kind"] == "probe"]

    def share(lines: list[dict]) -> float | None:
        return sum(r["kind"] == "probe" for r in lines) / len(lines) if lines else None

    return {
        "total": len(rows),
        "by_kind": Counter(r["kind"] for r in rows),
        "by_kind_verdict": Counter((r["kind"], r["verdict"]) for r in rows),
        "dropped": sum(r["verdict"] == "drop" for r in rows),
        "by_family": Counter(parse_line(text).dialect for text in texts),
        "before": {"lines": len(before), "probes": sum(r["kind"] == "probe" for r in before)},
        "after": {"lines": len(after), "probes": sum(r["kind"] == "probe" for r in after)},
        "noise_share": {"before": share(before), "after": share(after)},
        "probe_requests": Counter((r["http"] or {}).get("path") for r in probes),
        "http_kept": Counter((r["http"] or {}).get("path") for r in after if r["kind"] == "http"),
        "errors": sum(r["verdict"] != "drop" and RANK[r["severity"]] >= RANK["ERROR"] for r in rows),
    }


def assert_agrees(report: dict, expected: dict) -> None:
    lines = report["lines"]
    assert lines["total"] == expected["total"]
    assert Counter(lines["by_kind"]) == expected["by_kind"]
    assert Counter(lines["by_family"]) == expected["by_family"]
    got = Counter({(k, v): n for k, verdicts in lines["by_kind_verdict"].items() for v, n in verdicts.items() if v != "not_emitted"})
    assert got == expected["by_kind_verdict"]
    assert sum(v.get("not_emitted", 0) for v in lines["by_kind_verdict"].values()) == expected["dropped"]
    assert report["info_plus"] == {"before": expected["before"], "after": expected["after"]}
    for side in ("before", "after"):
        want = expected["noise_share"][side]
        assert report["noise_share"][side] == (None if want is None else pytest.approx(want))
    sources = report["probe_sources"]
    assert sources["more"] == 0
    assert _sum_by(sources["shown"], "path") == expected["probe_requests"]
    assert report["http_kept"]["more"] == 0
    assert _sum_by(report["http_kept"]["shown"], "path") == expected["http_kept"]
    errors = report["errors"]["shown"]
    assert sum(e["crash"] for e in errors) == report["records"]["crash_dumps"]
    if report["records"]["crash_dumps"] == 0:  # folded crash lines are one entry each dump, not one per line
        assert sum(e["count"] for e in errors) == expected["errors"]


def _sum_by(items: list[dict], key: str) -> Counter:
    total: Counter = Counter()
    for item in items:
        total[item[key]] += item["lines"]
    return total


class ChartReader(HTMLParser):
    """What the page's SVG charts hold: phases (band and start point) and progress points per chart."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, dict] = {}
        self.current: str | None = None
        self.fetches: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag in ("script", "link", "img", "iframe") or any(k in ("src", "href") for k in a):
            self.fetches.append(tag)
        if tag == "svg" and "timeline" in (a.get("class") or ""):
            self.current = a["id"]
            self.charts[self.current] = {"bands": Counter(), "starts": Counter(), "points": Counter()}
        elif self.current and "data-phase" in a:
            kind = {"phase": "bands", "phase-start": "starts", "point": "points"}[a["class"]]
            self.charts[self.current][kind][a["data-phase"]] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.current = None


def read_charts(html: str) -> ChartReader:
    reader = ChartReader()
    reader.feed(html)
    return reader


def assert_charts(report: dict, html: str) -> None:
    """Each stream with a timeline has its chart: a band and a start point for every phase,
    and a point for every progress point of the JSON."""
    reader = read_charts(html)
    assert reader.fetches == [], "the page must fetch nothing"
    timelines = {f"timeline-{i}": s["timeline"] for i, s in enumerate(report["streams"]) if s["timeline"]}
    assert set(reader.charts) == set(timelines)
    for chart_id, timeline in timelines.items():
        chart = reader.charts[chart_id]
        phases = Counter(p["phase"] for p in timeline["phases"])
        assert chart["bands"] == phases and chart["starts"] == phases, chart_id
        assert chart["points"] == Counter(p["phase"] for p in timeline["progress"]["points"]), chart_id


# Every excerpt of every corpus, in the three output modes.


@pytest.mark.parametrize(("corpus", "index"), _excerpt_params())
def test_every_excerpt_in_three_modes_agrees_with_classify(run, tmp_path, corpus, index):
    """JSON figures equal an independent count from classify --json; text and HTML render the same report."""
    path = write_excerpt(tmp_path, corpus, index)
    report = report_json(run, str(path))
    assert_agrees(report, independent(run, path))

    code, text, err = run("report", str(path))
    assert code == 0, err
    for side in ("before", "after"):
        share = report["noise_share"][side]
        assert ("n/a" if share is None else f"{share:.1%}") in text
    assert f"{report['lines']['total']} lines" in text

    html = tmp_path / "report.html"
    code, _, err = run("report", "--html", str(html), str(path))
    assert code == 0, err
    assert_charts(report, html.read_text(encoding="utf-8"))


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_a_whole_corpus_as_many_streams_adds_up(run, tmp_path, corpus):
    """Several FILEs are several streams: the figures are the sums of each file's own report."""
    if not EXCERPTS[corpus]:
        pytest.skip(f"{CORPORA[corpus]} is absent")
    paths = [str(write_excerpt(tmp_path, corpus, i)) for i in range(len(EXCERPTS[corpus]))]
    whole = report_json(run, *paths)
    parts = [report_json(run, path) for path in paths]
    assert [s["input"] for s in whole["streams"]] == paths
    assert [s["timeline"] for s in whole["streams"]] == [p["streams"][0]["timeline"] for p in parts]
    for side in ("before", "after"):
        for key in ("lines", "probes"):
            assert whole["info_plus"][side][key] == sum(p["info_plus"][side][key] for p in parts)
    assert whole["lines"]["total"] == sum(p["lines"]["total"] for p in parts)
    assert whole["records"]["total"] == sum(p["records"]["total"] for p in parts)


def test_a_crash_before_the_first_time_is_placed_nowhere_and_one_after_it_at_its_last_line(run, tmp_path):
    """A crash dump has no time of its own: it sits at its last line's offset, and before the
    stream shows a time there is none (not the wall clock of the run, which differs run to run)."""
    lines = [
        "Segmentation fault (core dumped)",
        "2025-02-19T03:05:20.000+08:00 level=INFO source=server.go:1 msg=\"starting\"",
        "time=2025-02-19T03:05:23.000+08:00 level=INFO source=server.go:2 msg=\"next\"",
        "Segmentation fault (core dumped)",
    ]
    path = tmp_path / "crashes.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events = report_json(run, str(path))["streams"][0]["timeline"]["events"]["shown"]
    crashes = sorted((e["line"], e["at_s"]) for e in events if e["what"] == "crash")
    assert crashes == [(1, None), (4, 0.0)]


# The example load log: timeline, estimate, bounds, stdin, bad input.


def test_example_load_timeline_and_estimate(run):
    """Phases with times, the RPC buffer, the endpoint and the capacity math of `estimate`."""
    report = report_json(run, "--bandwidth", "10Gbit/s", str(EXAMPLE))
    assert_agrees(report, independent(run, EXAMPLE))
    timeline = report["streams"][0]["timeline"]
    assert [p["phase"] for p in timeline["phases"]] == ["starting", "loading", "ready"]
    ready = timeline["phases"][2]
    # Uptime 1.36.900 on the ready line; the first uptime line (0.00.001) sits at the GPUStack line's time.
    assert ready["line"] == 137 and ready["at_s"] == pytest.approx(96.9 - 0.001, abs=0.001)
    rpc = {"name": "RPC[192.168.50.21:50052]", "device": "RPC", "endpoint": "192.168.50.21:50052", "bytes": round(19271.03 * 2**20)}
    assert rpc in timeline["buffers"]
    assert timeline["rpc_endpoints"] == [{"endpoint": "192.168.50.21:50052", "events": {"buffer": 1}}]
    assert len(timeline["progress"]["points"]) == timeline["progress"]["seen"] == 96
    # The RPC buffer is what crosses the link (the CUDA0 buffer is local): `estimate`'s math on its size.
    expected = est.estimate_load(rpc["bytes"], [est.parse_bandwidth("10Gbit/s")])
    assert timeline["estimate"]["transfer_s"] == pytest.approx(expected.transfer_s, abs=1e-3)
    assert timeline["estimate"]["deadline_s"] == int(est.load_deadline_s(expected)) == 22
    top = report["probe_sources"]["shown"][0]
    assert (top["client"], top["method"], top["path"], top["status"]) == ("127.0.0.1", "GET", "/v1/models", 503)
    # 33 polls 3 s apart, the last one after ready (kept at WARN: a failing probe once ready).
    assert (top["lines"], top["intervals"], top["info_plus_after"]) == (33, 32, 1)
    assert top["per_minute"] == pytest.approx(60 * 32 / top["span_s"], abs=0.01) == pytest.approx(17.6, abs=0.1)
    assert report["errors"]["shown"][0]["line"] == 143


def test_top_bounds_every_table(run, tmp_path):
    """`--top 1` shows one row per table and counts the rest."""
    report = json.loads(run("report", "--json", "--top", "1", str(EXAMPLE))[1])
    assert len(report["probe_sources"]["shown"]) == 1 and report["probe_sources"]["more"] == 1
    code, text, _ = run("report", "--top", "1", str(EXAMPLE))
    assert code == 0 and "and 1 more" in text
    assert "and 4 more" in text  # families: loading shown, four more


def test_long_line_is_cut_and_the_next_one_parsed(run, tmp_path):
    """A 3 MiB line is cut at 1 MiB, counted, and the line after it is read as it is."""
    probe = "0.05.000.000 I srv       log_server_response: rid  | GET /health 127.0.0.1:50000 | status 200 | cost 0.00s"
    path = tmp_path / "long.log"
    path.write_bytes(b"first line\n" + b"x" * (3 << 20) + b"\n" + probe.encode() + b"\n")
    report = report_json(run, str(path))
    assert report["lines"]["total"] == 3 and report["lines"]["cut"] == 1
    assert report["lines"]["by_kind"].get("probe") == 1


def test_stdin_and_files_give_the_same_report(tmp_path):
    """`-` reads stdin (a real process, as a user pipes a log in)."""
    command = [sys.executable, "-m", "otel_plugins", "report", "--json"]
    piped = subprocess.run([*command, "-"], input=EXAMPLE.read_bytes(), capture_output=True, timeout=120)
    named = subprocess.run([*command, str(EXAMPLE)], capture_output=True, timeout=120)
    assert piped.returncode == named.returncode == 0, piped.stderr
    a, b = json.loads(piped.stdout), json.loads(named.stdout)
    assert a["inputs"] == ["stdin"] and b["inputs"] == [str(EXAMPLE)]
    for key in ("lines", "info_plus", "noise_share", "probe_sources"):
        assert a[key] == b[key]


def test_a_sampling_policy_is_counted_as_the_pipeline_counts(run, tmp_path):
    """With `ready_verdict: sample`, the lines not emitted are exactly classify's `suppressed`,
    and only the windows' representatives count as INFO+ after the policy."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("ready_verdict: sample\nsample_window_s: 10\n")
    path = tmp_path / "sampled.log"
    polls = "".join(
        f"{(113 + 2 * i) // 60}.{(113 + 2 * i) % 60:02d}.000.000 I srv       log_server_response: rid  | GET /health 127.0.0.1:{51000 + i}"
        " | status 200 | cost 0.00s\n"
        for i in range(30)
    )  # a kubelet polling every 2 s once the server is ready
    path.write_bytes(EXAMPLE.read_bytes() + polls.encode())
    code, out, err = run("classify", "--policy", str(policy), "--json", str(path))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    suppressed = int(re.search(r"'suppressed': (\d+)", err).group(1))
    sampled = [r for r in rows if r["verdict"] == "sample"]
    assert len(sampled) >= 30 and suppressed >= 20 and all(RANK[r["severity"]] >= INFO for r in sampled)
    report = report_json(run, "--policy", str(policy), str(path))
    assert report["policy"] == str(policy)
    assert sum(v.get("not_emitted", 0) for v in report["lines"]["by_kind_verdict"].values()) == suppressed
    loud = sum(r["verdict"] != "sample" and RANK[r["severity"]] >= INFO for r in rows)
    assert report["info_plus"]["after"]["lines"] == loud + len(sampled) - suppressed
    assert report["records"]["sample_summaries"] >= 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/no/such.log"], "/no/such.log: no such file"),
        (["/"], "/: is a directory"),
        (["/proc/self/mem"], "/proc/self/mem: read failed"),
        (["-", "-"], "stdin) is given more than once"),
        (["--top", "0", "x"], "--top 0 must be between 1 and 1000"),
        (["--bandwidth", "fast", "x"], "--bandwidth 'fast'"),
        (["--html", "/no/such/dir/r.html", str(EXAMPLE)], "--html /no/such/dir/r.html"),
        (["--policy", "/no/such.yaml", str(EXAMPLE)], "invalid policy"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run, argv, message):
    code, out, err = run("report", *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err


def test_unreadable_file_is_one_line_and_exit_2(tmp_path):
    """A file the user may not read (as root: run without the capabilities that bypass permissions)."""
    path = tmp_path / "secret.log"
    path.write_text("line\n")
    path.chmod(0)
    command = [sys.executable, "-m", "otel_plugins", "report", str(path)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is missing: root reads any file")
        command = [setpriv, "--bounding-set=-all", "--inh-caps=-all", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"otel-plugins: {path}: cannot be read (Permission denied)\n"


# The HTML in a real browser.


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed by scripts/install_chromium.sh when it is missing."""
    found = shutil.which("chromium", path=f"{REPO / '.testbed' / 'bin'}:{os.environ.get('PATH', '')}")
    if found is None:
        result = subprocess.run([str(REPO / "scripts" / "install_chromium.sh")], capture_output=True, text=True, timeout=1200)
        found = shutil.which("chromium", path=str(REPO / ".testbed" / "bin"))
        if result.returncode != 0 or found is None:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.skip(f"chromium could not be installed (scripts/install_chromium.sh: {last[0]})")
    return found


def browse(chromium: str, page: Path, tmp_path: Path, *action: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, page.resolve().as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def png_colours(path: Path) -> tuple[int, int, Counter]:
    """(width, height, pixels per RGB colour) of an 8-bit RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, bytearray()
    while pos < len(data):
        length, chunk = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if chunk == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif chunk == b"IDAT":
            idat += body
    assert depth == 8 and colour_type in (2, 6) and interlace == 0
    bpp = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(bytes(idat)), width * bpp
    previous, colours = bytearray(stride), Counter()
    for y in range(height):
        start = y * (stride + 1)
        kind, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = row[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + left) & 255
            elif kind == 2:
                row[i] = (row[i] + up) & 255
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        colours.update(bytes(row[i : i + 3]) for i in range(0, stride, bpp))
        previous = row
    return width, height, colours


def assert_rendered(chromium: str, page: Path, report: dict, tmp_path: Path) -> str:
    """The browser's DOM holds every chart with its phases and points; returns the DOM."""
    dom = browse(chromium, page, tmp_path, "--dump-dom").stdout
    assert "<svg" in dom and "otel-plugins report" in dom
    assert_charts(report, dom)
    return dom


def test_html_chart_in_headless_chromium(run, chromium, tmp_path):
    """The example load: the chart is in the browser's DOM and drawn in its screenshot."""
    page = tmp_path / "report.html"
    code, _, err = run("report", "--html", str(page), str(EXAMPLE))
    assert code == 0, err
    report = report_json(run, str(EXAMPLE))
    assert_rendered(chromium, page, report, tmp_path)
    shot = tmp_path / "shot.png"
    browse(chromium, page, tmp_path, f"--screenshot={shot}", "--window-size=1200,900")
    width, height, colours = png_colours(shot)
    assert (width, height) == (1200, 900)
    white = colours[b"\xff\xff\xff"]
    assert white < 0.9 * width * height and len(colours) > 50, "the screenshot is (nearly) blank"
    # The phase bands and the progress line are on screen, in their own colours.
    assert colours[bytes(PHASE_COLOURS["loading"])] > 50_000
    assert colours[bytes(PHASE_COLOURS["ready"])] > 5_000
    assert colours[bytes(PROGRESS_COLOUR)] > 200


def test_html_of_every_corpus_timeline_in_headless_chromium(run, chromium, tmp_path):
    """Both corpora, every excerpt one stream, one page: each timeline's chart reaches the DOM."""
    paths = [str(write_excerpt(tmp_path, corpus, i)) for corpus in CORPORA for i in range(len(EXCERPTS[corpus]))]
    if not paths:
        pytest.skip("neither corpus is present")
    page = tmp_path / "corpus.html"
    code, _, err = run("report", "--html", str(page), *paths)
    assert code == 0, err
    report = report_json(run, *paths)
    assert sum(s["timeline"] is not None for s in report["streams"]) >= 10
    assert_rendered(chromium, page, report, tmp_path)


@pytest.mark.bed
@pytest.mark.skipif(bed.bin_path("llama-server") is None or bed.bin_path("rpc-server") is None,
                    reason="llama-server/rpc-server not built: run scripts/build_llama.sh")  # fmt: skip
def test_real_llama_server_load_log(run, chromium, tmp_path):
    """A load the real llama-server does over a real rpc-server, probed while it loads."""
    model = bed.ensure_model(256, 2)
    with bed.Processes() as procs:
        rport = bed.free_port()
        rpc = procs.add(bed.start_rpc_server(rport, log_dir=tmp_path))
        bed.wait_tcp("127.0.0.1", rport, timeout=20, proc=rpc)
        port = bed.free_port()
        server = procs.add(bed.start_llama_server(model, port, rpc=f"127.0.0.1:{rport}", log_dir=tmp_path))
        bed.wait_http(f"http://127.0.0.1:{port}/health", timeout=120, proc=server, interval=0.02)
        bed.http_request(f"http://127.0.0.1:{port}/health")
        bed.wait_log(server, r"GET /health 127\.0\.0\.1 200", timeout=10)
        procs.stop_all()
        text = bed.read_log(server, "err")
    log = tmp_path / "llama-server.log"
    log.write_text(text, encoding="utf-8")
    report = report_json(run, str(log))
    assert_agrees(report, independent(run, log))
    timeline = report["streams"][0]["timeline"]
    assert {"loading", "ready"} <= {p["phase"] for p in timeline["phases"]}
    endpoint = f"127.0.0.1:{rport}"
    mib = sum(float(m.group("mib")) for m in bed.RPC_BUFFER_RE.finditer(text) if m.group("endpoint") == endpoint)
    assert mib > 0
    assert [b["bytes"] for b in timeline["buffers"] if b["endpoint"] == endpoint] == [pytest.approx(mib * 2**20, abs=2**20 / 100)]
    assert [link["endpoint"] for link in timeline["estimate"]["links"]] == [endpoint]
    health = len(re.findall(r"GET /health 127\.0\.0\.1 \d{3}", text))
    shown = [s for s in report["probe_sources"]["shown"] if s["path"] == "/health"]
    assert sum(s["lines"] for s in shown) == health
    page = tmp_path / "bed.html"
    assert run("report", "--html", str(page), str(log))[0] == 0
    assert_rendered(chromium, page, report, tmp_path)


def test_log_text_is_never_read_as_markup(run, tmp_path):
    """Paths and messages from the log reach the terminal as they are, brackets and all."""
    path = tmp_path / "brackets.log"
    path.write_text(
        "srv  log_server_r: request: GET /v1/[/oops] 10.0.0.7 200\n"
        "0.00.002.000 E srv  main: failed [/bold] to [red]load[/red]\n"
    )
    code, text, err = run("report", str(path))
    assert code == 0, err
    assert "/v1/[/oops]" in text and "failed [/bold] to [red]load[/red]" in text
