"""The capacity planner: unit parsing, the transfer math, GGUF tensor bytes and `otel-plugins estimate`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from otel_plugins import cli
from otel_plugins import estimate as est

MIB = 2**20
GBIT = 1e9 / 8


def write_gguf(path, *, split_max_tensors: int = 0) -> int:
    """A tiny GGUF with f32, f16 and Q8_0 tensors; returns the tensor bytes it holds."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama", split_max_tensors=split_max_tensors)
    writer.add_tensor("token_embd.weight", np.ones((4, 8), dtype=np.float32))  # 128 bytes
    writer.add_tensor("output_norm.weight", np.ones((16,), dtype=np.float16))  # 32 bytes
    # Two Q8_0 blocks of 32 weights: 34 bytes each, whatever the element count says.
    writer.add_tensor("output.weight", np.zeros((2, 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return 128 + 32 + 68


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Runs `otel-plugins estimate ...` through cli.main; returns (exit code, stdout, stderr)."""
    # Only this command: the others import modules that may be mid-edit elsewhere.
    monkeypatch.setattr(cli, "COMMANDS", ("estimate",))

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = cli.main(["estimate", *argv])
        except SystemExit as exc:  # argparse's own errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


# Units.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("104842.70MiB", round(104842.70 * MIB)),
        ("1 B", 1),
        ("2KiB", 2048),
        ("1.5gib", round(1.5 * 2**30)),
        ("1TiB", 2**40),
        ("3KB", 3000),
        ("3mb", 3_000_000),
        ("2GB", 2_000_000_000),
        ("1tb", 10**12),
    ],
)
def test_parse_size_units(text, expected):
    """Sizes take binary and decimal units in any case."""
    assert est.parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "bytes_per_s"),
    [
        ("10Gbit/s", 10 * GBIT),
        ("800 Mbit/s", 800e6 / 8),
        ("100kbit/s", 100e3 / 8),
        ("8bit/s", 1.0),
        ("25Gbps", 25 * GBIT),
        ("512B/s", 512.0),
        ("1.2GB/s", 1.2e9),
        ("100MB/s", 100e6),
        ("5KB/s", 5e3),
        ("100MiB/s", 100.0 * MIB),
        ("2GiB/s", 2.0 * 2**30),
    ],
)
def test_parse_bandwidth_units(text, bytes_per_s):
    """Bandwidths in bits or bytes per second come back as bytes per second."""
    assert est.parse_bandwidth(text) == pytest.approx(bytes_per_s)


def test_parse_tensor_split_and_endpoints():
    """Splits take `,` or `/` like llama-box; endpoints keep their order, IPv6 in brackets."""
    assert est.parse_tensor_split("50000,50000,4000") == (50000.0, 50000.0, 4000.0)
    assert est.parse_tensor_split("3/1") == (3.0, 1.0)
    assert est.parse_endpoints("10.0.0.2:50052, [fd00::3]:50052") == ("10.0.0.2:50052", "[fd00::3]:50052")


# The math.


def test_whole_model_over_one_link():
    """104842.70 MiB over 10 Gbit/s takes 87.95 s; x1.3 gives a 115 s deadline."""
    e = est.estimate_load(est.parse_size("104842.70MiB"), [est.parse_bandwidth("10Gbit/s")])
    assert e.transfer_s == pytest.approx(87.95, abs=0.005)
    assert [link.endpoint for link in e.links] == ["model"]
    assert e.expected_s == pytest.approx(87.95 * 1.3, abs=0.01)
    assert est.load_deadline_s(e) == 115.0
    probe = est.startup_probe(e)
    assert (probe.period_s, probe.failure_threshold, probe.budget_s) == (10, 12, 120)


def test_tensor_split_shares_and_parallel_links():
    """RPC shares come first; local shares transfer nothing; the slowest link bounds the total."""
    model = 100 * 2**30
    e = est.estimate_load(
        model,
        [10 * GBIT, 1 * GBIT],
        endpoints=["10.0.0.2:50052", "10.0.0.3:50052"],
        tensor_split=[50000, 25000, 25000],
        redundancy=1.5,
    )
    fast, slow = e.links
    assert fast.share == pytest.approx(0.5) and slow.share == pytest.approx(0.25)
    assert fast.bytes == pytest.approx(model / 2)
    assert fast.seconds == pytest.approx(model / 2 / (10 * GBIT))
    assert slow.seconds == pytest.approx(model / 4 / GBIT)
    assert e.transfer_s == slow.seconds  # parallel, not the sum
    assert e.split_known
    assert est.load_deadline_s(e) == math.ceil(slow.seconds * 1.5)


def test_one_bandwidth_applies_to_all_and_unknown_split_budgets_whole_model():
    """Without --tensor-split every endpoint is budgeted the whole model (an upper bound)."""
    e = est.estimate_load(1_000_000_000, [GBIT], endpoints=["a:1", "b:2"])
    assert [link.bandwidth for link in e.links] == [GBIT, GBIT]
    assert all(link.share == 1.0 for link in e.links)
    assert not e.split_known
    assert e.transfer_s == pytest.approx(8.0)


def test_deadline_is_whole_seconds_and_probe_covers_it():
    """The deadline rounds up and is at least 1 s; periodSeconds x failureThreshold >= deadline."""
    tiny = est.estimate_load(1000, [GBIT])
    assert est.load_deadline_s(tiny) == 1.0
    assert est.startup_probe(tiny).failure_threshold == 1
    exact = est.estimate_load(125_000_000 * 100, [GBIT], redundancy=1.0)  # exactly 100 s
    assert est.load_deadline_s(exact) == 100.0
    for period in (1, 7, 10, 30):
        probe = est.startup_probe(exact, period)
        assert probe.budget_s >= 100 and (probe.failure_threshold - 1) * period < 100


# GGUF.


def test_gguf_tensor_bytes(tmp_path):
    """The model size is the exact sum of tensor bytes, quantized blocks included."""
    path = tmp_path / "tiny.gguf"
    expected = write_gguf(path)
    assert est.gguf_tensor_bytes(path) == expected == 228


def test_gguf_split_model_adds_every_shard(tmp_path):
    """Any shard of a split model stands for the whole model."""
    expected = write_gguf(tmp_path / "m.gguf", split_max_tensors=1)
    assert est.gguf_tensor_bytes(tmp_path / "m-00002-of-00003.gguf") == expected
    (tmp_path / "m-00003-of-00003.gguf").unlink()
    with pytest.raises(est.EstimateError, match="m-00003-of-00003.gguf .*missing"):
        est.gguf_tensor_bytes(tmp_path / "m-00001-of-00003.gguf")


# The command.


def test_cli_json(run_cli, tmp_path):
    """--json prints one object with the documented keys."""
    model = tmp_path / "tiny.gguf"
    write_gguf(model)
    code, out, err = run_cli("--model", str(model), "--bandwidth", "8bit/s", "--rpc", "10.0.0.2:50052", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {
        "model_bytes", "redundancy", "split_known", "links", "transfer_s", "expected_s",
        "deadline_s", "startup_probe", "startup_probe_budget_s",
    }  # fmt: skip
    assert data["model_bytes"] == 228
    assert data["links"] == [
        {
            "endpoint": "10.0.0.2:50052", "share": 1.0, "bytes": 228, "bandwidth_bytes_per_s": 1.0,
            "transfer_s": 228.0, "expected_s": 296.4,
        }
    ]  # fmt: skip
    assert data["transfer_s"] == 228.0 and data["deadline_s"] == 297
    assert data["startup_probe"] == {"periodSeconds": 10, "failureThreshold": 30, "timeoutSeconds": 1}
    assert data["startup_probe_budget_s"] == 300


def test_cli_table(run_cli):
    """The table shows every endpoint, the parallel total and the probe settings."""
    code, out, _ = run_cli(
        "--size", "104842.70MiB", "--rpc", "10.0.0.2:50052,10.0.0.3:50052", "--tensor-split", "52421.35,52421.35,0",
        "--bandwidth", "10Gbit/s", "--bandwidth", "5Gbit/s", "--redundancy", "1.2", "--probe-period", "15",
    )  # fmt: skip
    assert code == 0
    assert "10.0.0.2:50052" in out and "10.0.0.3:50052" in out
    assert "43.97 s" in out  # half the model over 10 Gbit/s
    assert "87.95 s" in out and "105.54 s" in out  # half over 5 Gbit/s bounds the total, x1.2
    assert "deadline  106 s" in out
    assert "periodSeconds: 15, failureThreshold: 8" in out


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--size", "10", "--bandwidth", "1Gbit/s"], "'10'"),
        (["--size", "10XB", "--bandwidth", "1Gbit/s"], "'XB'"),
        (["--size=-3GB", "--bandwidth", "1Gbit/s"], "'-3GB'"),
        (["--size", "0MiB", "--bandwidth", "1Gbit/s"], "'0MiB'"),
        (["--size", "1GB", "--bandwidth", "0Gbit/s"], "'0Gbit/s'"),
        (["--size", "1GB", "--bandwidth=-5MB/s"], "'-5MB/s'"),
        (["--size", "1GB", "--bandwidth", "10Gbits"], "'Gbits'"),
        (["--size", "1GB", "--bandwidth", "10Gb/s"], "'Gb/s'"),
        (["--size", "1GB", "--bandwidth", "fast"], "'fast'"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--redundancy", "0.9"], "--redundancy 0.9"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--redundancy", "3.5"], "--redundancy 3.5"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--redundancy", "lots"], "'lots'"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--rpc", "a:1,b:2", "--tensor-split", "1"], "1 share but --rpc names 2"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--rpc", "a:1", "--tensor-split", "1,x"], "'x'"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--rpc", "a:1", "--tensor-split", "1,-2"], "'-2'"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--rpc", "a:1", "--tensor-split", "0,0"], "'0,0'"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--tensor-split", "1,1"], "--tensor-split without --rpc"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--bandwidth", "2Gbit/s"], "2 --bandwidth values for 1 endpoint"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--bandwidth", "1Gbit/s", "--rpc", "a:1,b:2,c:3"], "for 3 endpoints"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--rpc", "nohost"], "'nohost'"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--rpc", "h:99999"], "'h:99999'"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--probe-period", "0"], "--probe-period 0"),
        (["--size", "1GB", "--bandwidth", "1Gbit/s", "--probe-period", "ten"], "'ten'"),
        (["--model", "/nonexistent/m.gguf", "--bandwidth", "1Gbit/s"], "/nonexistent/m.gguf"),
    ],
)
def test_cli_bad_input(run_cli, argv, names):
    """Every bad value exits 2 with one line that names it."""
    code, out, err = run_cli(*argv)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("otel-plugins: ") and names in err


def test_cli_not_a_gguf(run_cli, tmp_path):
    """A file that is not GGUF is a usage error naming the file."""
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a gguf at all" * 10)
    code, _, err = run_cli("--model", str(bogus), "--bandwidth", "1Gbit/s")
    assert code == 2 and len(err.splitlines()) == 1
    assert str(bogus) in err and "not a readable GGUF" in err


def test_api_rejects_impossible_values():
    """The API raises EstimateError (a ValueError) for what the command reports as usage errors."""
    with pytest.raises(ValueError, match="greater than 0"):
        est.estimate_load(0, [GBIT])
    with pytest.raises(est.EstimateError, match="greater than 0"):
        est.estimate_load(1000, [0.0])
    with pytest.raises(est.EstimateError, match=r"outside \[1.0, 3.0\]"):
        est.estimate_load(1000, [GBIT], redundancy=float("nan"))
