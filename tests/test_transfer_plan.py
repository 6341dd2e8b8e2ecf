"""`transfer_plan` (which weights go to which RPC endpoint, which the server has cached) and
`upload_track` (where an upload stands from the acknowledged bytes)."""

from __future__ import annotations

import os

import pytest

import bed
from otel_plugins.transfer_plan import HASH_THRESHOLD, PlanError, assign_layers, model_tensors, plan_transfers
from otel_plugins.upload_track import HASH_MESSAGE, SET_TENSOR_OVERHEAD, UploadTrack

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def model():
    pytest.importorskip("gguf")
    try:
        return bed.ensure_model(1024, 4)
    except FileNotFoundError as exc:  # the vocab comes with a llama.cpp build
        pytest.skip(str(exc))


def test_layers_follow_llama_cpp_split_points():
    # 4 blocks + the output layer over two devices split 1:1: 0,1,2 -> device 0 (positions 0, .2, .4 < .5)
    assert assign_layers(4, 2, [1, 1]) == [0, 0, 0, 1, 1]
    assert assign_layers(4, 2, [3, 1]) == [0, 0, 0, 0, 1]
    # -ngl 3: the last three layers (two blocks and the output) are offloaded
    assert assign_layers(4, 1, None, 3) == [None, None, 0, 0, 0]
    assert assign_layers(4, 1, None, 0) == [None] * 5
    assert assign_layers(4, 0) == [None] * 5
    with pytest.raises(PlanError, match="free device memory"):
        assign_layers(4, 2)


def test_single_endpoint_gets_everything_but_the_input_embedding(model):
    n_layer, tensors = model_tensors(model)
    plan = plan_transfers(model, ["10.0.0.2:50052"])["10.0.0.2:50052"]
    everything = sum(t.nbytes for t in tensors)
    embedding = next(t.nbytes for t in tensors if t.name == "token_embd.weight")
    assert n_layer == 4
    assert plan.total_bytes == everything - embedding
    # llama-server 0.3.8 prints `RPC[...] model buffer size = 190.54 MiB` for this model
    assert abs(plan.total_bytes / MIB - 190.54) < 0.01
    names = [t.name for t in plan.tensors]
    assert names[:2] == ["output_norm.weight", "output.weight"], "llama.cpp creates the output layer first"
    assert names.index("blk.0.attn_q.weight") < names.index("blk.1.attn_q.weight")
    assert [t.name for t in plan.hashed] == ["output.weight"], "only tensors over 10 MiB are offered by hash"
    assert plan.cached_bytes == 0 and not plan.cache_known


def test_split_puts_blocks_on_each_endpoint(model):
    plans = plan_transfers(model, ["a:1", "b:2"], tensor_split=[1, 1])
    first = {t.name.split(".")[1] for t in plans["a:1"].tensors}
    second = {t.name.split(".")[1] for t in plans["b:2"].tensors if t.name.startswith("blk.")}
    assert first == {"0", "1", "2"} and second == {"3"}
    assert "output.weight" in {t.name for t in plans["b:2"].tensors}
    # a third share is a local device: its layers go nowhere on the network
    plans = plan_transfers(model, ["a:1"], tensor_split=[1, 1])
    assert {t.name.split(".")[1] for t in plans["a:1"].tensors} == {"0", "1", "2"}


def test_cached_tensors_are_found_by_content(model, tmp_path):
    _, tensors = model_tensors(model)
    output = next(t for t in tensors if t.name == "output.weight")
    assert output.nbytes > HASH_THRESHOLD
    with open(model, "rb") as f:
        f.seek(output.offset)
        data = f.read(output.nbytes)
    (tmp_path / "0123456789abcdef").write_bytes(data)
    decoy = bytearray(data)
    decoy[-1] ^= 0xFF  # same size, same prefix, one byte differs: not the tensor
    (tmp_path / "fedcba9876543210").write_bytes(bytes(decoy))
    plan = plan_transfers(model, ["a:1"], cache_dirs={"a:1": str(tmp_path)})["a:1"]
    assert plan.cache_known
    assert [t.name for t in plan.tensors if t.cached] == ["output.weight"]
    assert plan.cached_bytes == output.nbytes
    assert plan.wire_bytes == plan.total_bytes - output.nbytes
    os.unlink(tmp_path / "0123456789abcdef")
    plan = plan_transfers(model, ["a:1"], cache_dirs={"a:1": str(tmp_path)})["a:1"]
    assert plan.cached_bytes == 0


def test_missing_cache_directory_is_one_line(model, tmp_path):
    with pytest.raises(PlanError, match=r"--rpc-cache .*nowhere"):
        plan_transfers(model, ["a:1"], cache_dirs={"a:1": str(tmp_path / "nowhere")})


def test_track_maps_acknowledged_bytes_to_load_bytes():
    big = 20 * MIB
    track = UploadTrack([(1000, False, False), (big, True, True), (2000, False, False), (big, True, False)])
    # on the wire: small SET, hash message (cached), small SET, hash message + SET with data
    first = SET_TENSOR_OVERHEAD + 1000
    assert track.wire_bytes == first + HASH_MESSAGE + SET_TENSOR_OVERHEAD + 2000 + HASH_MESSAGE + SET_TENSOR_OVERHEAD + big
    assert track.load_bytes == 3000 + 2 * big and track.cached_bytes == big
    assert track.position(0).done == 0
    assert track.position(SET_TENSOR_OVERHEAD + 500).done == 500
    # the cached tensor's hash message went out, the answer is not in: not done yet
    at = track.position(first + HASH_MESSAGE)
    assert (at.done, at.cached) == (1000, 0)
    # the next message started: the server answered "cached"
    at = track.position(first + HASH_MESSAGE + 1)
    assert (at.done, at.cached) == (1000 + big, big)
    # half of the uncached big tensor's data
    start = first + HASH_MESSAGE + SET_TENSOR_OVERHEAD + 2000 + HASH_MESSAGE + SET_TENSOR_OVERHEAD
    assert track.position(start + big // 2).done == 3000 + big + big // 2
    assert track.position(track.wire_bytes).done == track.load_bytes
    assert track.position(track.wire_bytes * 2).done == track.load_bytes


def test_track_without_cache_knowledge_lays_everything_out():
    track = UploadTrack([(30 * MIB, True, False)])
    assert track.wire_bytes == HASH_MESSAGE + SET_TENSOR_OVERHEAD + 30 * MIB
    assert track.hashed_bytes == 30 * MIB and track.cached_bytes == 0
    assert UploadTrack([]).position(100).done == 0
