"""Issue 13, items 4-6: a few hundred bytes must not hang the CLI or take gigabytes.

Policy YAML (alias bombs, size, depth, list length), GGUF metadata (counts and lengths
checked against the file size before the upstream reader runs), and line length (cut at
1 MiB, as `tail` does, and counted). Each run has a timeout and, where memory is the
attack, an address-space limit or a measured peak RSS.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading

import pytest
from advkit import assert_one_line_error, cli, cli_env, limits, run_child

GIB = 1 << 30
MIB = 1 << 20
MARKER_CHILD = "import pathlib; pathlib.Path('started.txt').write_text('yes')"


def laughs(levels: int = 9, width: int = 9) -> str:
    """The billion-laughs list: `levels` anchors, each `width` aliases of the one before."""
    rows = [f"&l0 [{', '.join(['GET'] * width)}]"]
    rows += [f"&l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "[" + ", ".join(rows) + "]"


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp_path / "in.log").write_text("GET /health 200\n")
    return path


def classify_with_policy(tmp_path, name: str) -> subprocess.CompletedProcess:
    return cli("classify", "--policy", name, "in.log", cwd=tmp_path, timeout=30, preexec=limits(address_space=GIB))


def test_alias_bomb_under_probes_methods(tmp_path):
    write(tmp_path, "bomb.yaml", f"probes:\n  methods: {laughs()}\n")
    assert len((tmp_path / "bomb.yaml").read_bytes()) < 600
    assert_one_line_error(classify_with_policy(tmp_path, "bomb.yaml"), "bomb.yaml", "alias")


def test_alias_bomb_reached_from_probes_paths(tmp_path):
    """The anchors sit under `clients`, read after `paths`: the error must not print the expansion."""
    write(tmp_path, "bomb.yaml", f"probes:\n  clients: {laughs()}\n  paths: [*l8]\n")
    assert_one_line_error(classify_with_policy(tmp_path, "bomb.yaml"), "bomb.yaml", "alias")


def test_a_few_aliases_are_still_fine(tmp_path):
    write(tmp_path, "ok.yaml", "probes:\n  paths: &p [/health, /v1/models]\nrpc_peer: {lost_after_s: 2}\n")
    result = classify_with_policy(tmp_path, "ok.yaml")
    assert result.returncode == 0, result.stderr.decode()


def test_deep_nesting(tmp_path):
    write(tmp_path, "deep.yaml", "probes:\n  methods: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert_one_line_error(classify_with_policy(tmp_path, "deep.yaml"), "deep.yaml", "deep")


def test_policy_file_too_large(tmp_path):
    write(tmp_path, "big.yaml", "# " + "x" * (4 * MIB) + "\nprobes: {}\n")
    assert_one_line_error(classify_with_policy(tmp_path, "big.yaml"), "big.yaml", "large")


def test_long_list_names_the_key(tmp_path):
    write(tmp_path, "long.yaml", "probes:\n  paths: [" + ", ".join(f"/p{i}" for i in range(20_000)) + "]\n")
    assert_one_line_error(classify_with_policy(tmp_path, "long.yaml"), "probes.paths")


def test_nested_list_in_methods_names_the_key(tmp_path):
    write(tmp_path, "nested.yaml", "probes:\n  methods: [[GET, [HEAD]]]\n")
    line = assert_one_line_error(classify_with_policy(tmp_path, "nested.yaml"), "probes.methods")
    assert len(line) < 200


def test_policy_from_the_environment_is_bounded_the_same_way(tmp_path):
    bomb = write(tmp_path, "bomb.yaml", f"probes:\n  methods: {laughs()}\n")
    result = cli("classify", "in.log", cwd=tmp_path, timeout=30, env={"OTEL_PLUGINS_POLICY": str(bomb)},
                 preexec=limits(address_space=GIB))
    assert_one_line_error(result, "bomb.yaml", "alias")


# --- GGUF: metadata checked against the file size before the upstream reader runs ---------

GGUF_STRING, GGUF_ARRAY, GGUF_UINT32, GGUF_UINT8 = 8, 9, 4, 0


def gguf_string(text: bytes, length: int | None = None) -> bytes:
    return struct.pack("<Q", len(text) if length is None else length) + text


def gguf(kvs: list[bytes], tensor_count: int = 0, kv_count: int | None = None, tail: bytes = b"") -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, tensor_count, len(kvs) if kv_count is None else kv_count) + b"".join(kvs) + tail


def kv(key: bytes, value_type: int, value: bytes) -> bytes:
    return gguf_string(key) + struct.pack("<I", value_type) + value


BOMBS = {
    # The 89 bytes: one array declaring 2^40 items.
    "array_2e40": gguf([kv(b"general.architecture", GGUF_ARRAY, struct.pack("<IQ", GGUF_UINT8, 1 << 40))]) + b"\0" * 21,
    "array_of_strings_2e40": gguf([kv(b"tokenizer.ggml.tokens", GGUF_ARRAY, struct.pack("<IQ", GGUF_STRING, 1 << 40))]),
    "array_of_arrays": gguf([kv(b"x", GGUF_ARRAY, struct.pack("<IQ", GGUF_ARRAY, 1 << 40))]),
    "string_2e60": gguf([kv(b"general.name", GGUF_STRING, gguf_string(b"abc", 1 << 60))]),
    "key_2e60": gguf([gguf_string(b"k", 1 << 60)]),
    "kv_count_2e60": gguf([kv(b"a", GGUF_UINT8, b"\1")], kv_count=1 << 60),
    "tensor_count_2e60": gguf([], tensor_count=1 << 60),
    "tensor_dims_2e30": gguf([], tensor_count=1, tail=gguf_string(b"t") + struct.pack("<I", 1 << 30)),
    "truncated": gguf([kv(b"general.name", GGUF_STRING, gguf_string(b"abcdef"))])[:-3],
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_gguf_bombs_are_refused_by_estimate(tmp_path, name):
    (tmp_path / "m.gguf").write_bytes(BOMBS[name])
    result = cli("estimate", "--model", "m.gguf", "--bandwidth", "1Gbit/s", cwd=tmp_path, timeout=60,
                 preexec=limits(address_space=4 * GIB))
    assert_one_line_error(result, "m.gguf")


def test_gguf_bomb_refused_by_run_before_the_server_starts(tmp_path):
    (tmp_path / "m.gguf").write_bytes(BOMBS["array_2e40"])
    assert len(BOMBS["array_2e40"]) == 89
    result = cli("run", "--quiet", "--output-dir", "o", "--bandwidth", "1Gbit/s", "--",
                 *run_child(MARKER_CHILD), "-m", "m.gguf", cwd=tmp_path, timeout=60)
    assert_one_line_error(result, "m.gguf", "not started")
    assert not (tmp_path / "started.txt").exists()


def test_a_real_gguf_still_passes_the_check(tmp_path):
    import gguf as upstream
    import numpy as np

    writer = upstream.GGUFWriter(str(tmp_path / "ok.gguf"), "llama")
    writer.add_array("tokenizer.ggml.tokens", ["a", "bb", "ccc"])
    writer.add_tensor("w", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    result = cli("estimate", "--model", "ok.gguf", "--bandwidth", "1Gbit/s", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["model_bytes"] == 4 * 8 * 4


# --- line length: cut at 1 MiB everywhere, counted; memory stays bounded -------------------


def peak_rss_of(args: list[str], source: list[str], cwd) -> tuple[int, int, bytes, int]:
    """Runs `otel-plugins ARGS` reading stdin from `source`; (exit code, peak RSS bytes, stderr, stdout newlines)."""
    src = subprocess.Popen(source, stdout=subprocess.PIPE)
    proc = subprocess.Popen([sys.executable, "-m", "otel_plugins", *args], stdin=src.stdout, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli_env(), cwd=cwd)
    src.stdout.close()
    counted, errors = [0], []
    def drain_out():
        while chunk := proc.stdout.read(1 << 16):
            counted[0] += chunk.count(b"\n")
    def drain_err():
        errors.append(proc.stderr.read())
    threads = [threading.Thread(target=drain_out), threading.Thread(target=drain_err)]
    for t in threads:
        t.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join(60)
    src.wait()
    return proc.returncode, usage.ru_maxrss * 1024, errors[0], counted[0]


def test_classify_of_an_endless_line_stays_small(tmp_path):
    """256 MiB without a newline (the issue: /dev/zero): 256 pieces of 1 MiB, each counted; peak RSS far below the input."""
    code, rss, err, out_lines = peak_rss_of(["classify", "--json", "-"], ["head", "-c", str(256 * MIB), "/dev/zero"], tmp_path)
    assert code == 0, err[-2000:]
    assert out_lines == 256
    assert b"256 lines cut at 1048576 bytes" in err, err[-500:]
    assert rss < 160 * MIB, rss


def test_replay_of_an_endless_line_stays_small(tmp_path):
    """256 MiB without a newline: every piece exported, and peak RSS below the input (the
    replay flushes every 4 MiB of lines: a 1 MiB line of NULs is 6 MiB of OTLP JSON)."""
    code, rss, err, _ = peak_rss_of(["replay", "--output-dir", "o", "--no-passthrough", "-"],
                                    ["head", "-c", str(256 * MIB), "/dev/zero"], tmp_path)
    assert code == 0, err[-2000:]
    assert b"lines 256," in err and b"cut at the line limit 256" in err, err[-500:]
    assert b"emitted 256, exported 256, dropped 0" in err, err[-500:]
    assert rss < 200 * MIB, rss


def test_replay_passthrough_is_byte_identical_around_the_limit(tmp_path):
    chunks = [b"x" * (MIB - 1) + b"\n", b"y" * MIB + b"\n", b"z" * (MIB + 1) + b"\r\n", b"\xff\xfe bad utf-8 \x00\n",
              b"w" * (3 * MIB + 5), b"\nlast line without newline"]
    data = b"".join(chunks)
    (tmp_path / "in.log").write_bytes(data)
    result = cli("replay", "--output-dir", "o", "in.log", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert result.stdout == data
    # y: MIB bytes then "\n" (1 cut); z: 1 cut; w: 3 cuts.
    assert b"cut at the line limit 5" in result.stderr, result.stderr[-500:]


def test_classify_counts_each_piece_of_a_cut_line(tmp_path):
    (tmp_path / "in.log").write_bytes(b"a" * (2 * MIB + 10) + b"\nGET /health 200\n")
    result = cli("classify", "--json", "in.log", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert len(result.stdout.splitlines()) == 4  # 1 MiB, 1 MiB, 10 bytes + newline, the probe
    assert b"2 lines cut at 1048576 bytes" in result.stderr
