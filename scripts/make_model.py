#!/usr/bin/env python3
"""Generate a small random-weight llama GGUF model for the test bed.

The tokenizer (all ``tokenizer.ggml.*`` keys) is copied from llama.cpp's
``ggml-vocab-llama-spm.gguf`` (vocab-only file shipped with llama.cpp; the
build script ``scripts/build_llama.sh`` copies it into the cache).  The
weights are random f16 values (normal * 0.02), norms are f32 ones, so
llama-server loads the model and generates (garbage) text.

Sizes: ``--dim 256 --blocks 2`` ~ 38 MB, ``--dim 1024 --blocks 4`` ~ 266 MB.

CLI::

    make_model.py [--dim 256] [--blocks 2] [--out PATH] [--vocab PATH] [--force]

Library::

    from make_model import ensure_model
    path = ensure_model(256, 2)

Requires the ``gguf`` and ``numpy`` packages.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

VOCAB_NAME = "ggml-vocab-llama-spm.gguf"
LLAMA_CPP_DIRS = ("llama-cpp-0.3.8", "llama-cpp-0.3.36")  # either build brings the vocab
HEAD_DIM = 64
SEED = 1234


def cache_root() -> pathlib.Path:
    env = os.environ.get("OTEL_PLUGINS_CACHE")
    if env:
        return pathlib.Path(env)
    return pathlib.Path.home() / ".cache" / "otel-plugins"


def default_model_path(dim: int, blocks: int) -> pathlib.Path:
    return cache_root() / "models" / f"llama-d{dim}-b{blocks}.gguf"


def find_vocab(explicit: str | os.PathLike | None = None) -> pathlib.Path:
    """Locate ggml-vocab-llama-spm.gguf (explicit, $LLAMA_VOCAB_GGUF, cache)."""
    candidates = []
    if explicit:
        candidates.append(pathlib.Path(explicit))
    if os.environ.get("LLAMA_VOCAB_GGUF"):
        candidates.append(pathlib.Path(os.environ["LLAMA_VOCAB_GGUF"]))
    for name in LLAMA_CPP_DIRS:
        base = cache_root() / name
        candidates.append(base / VOCAB_NAME)
        candidates.append(base / "src" / "vendor" / "llama.cpp" / "models" / VOCAB_NAME)
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"{VOCAB_NAME} not found (looked in: {', '.join(map(str, candidates))}); "
        "run scripts/build_llama.sh first or set LLAMA_VOCAB_GGUF"
    )


def _field_value(field):
    """Python value of a GGUFReader field (scalar, string or array)."""
    import gguf

    main_type = field.types[0]
    if main_type == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    if main_type == gguf.GGUFValueType.ARRAY:
        sub = field.types[1] if len(field.types) > 1 else None
        if sub == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8", errors="replace") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    val = field.parts[field.data[0]].tolist()[0]
    if main_type == gguf.GGUFValueType.BOOL:
        return bool(val)
    return val


def write_model(out: pathlib.Path, dim: int, blocks: int, vocab: pathlib.Path,
                ctx: int = 2048, seed: int = SEED) -> pathlib.Path:
    import numpy as np
    import gguf

    if dim % HEAD_DIM:
        raise ValueError(f"dim must be a multiple of {HEAD_DIM}")
    n_head = dim // HEAD_DIM
    n_head_kv = n_head
    n_ff = 4 * dim

    reader = gguf.GGUFReader(str(vocab))
    tok_fields = {k: f for k, f in reader.fields.items() if k.startswith("tokenizer.")}
    tokens = tok_fields["tokenizer.ggml.tokens"]
    n_vocab = len(tokens.data)

    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        w = gguf.GGUFWriter(tmp, "llama")
        w.add_name(f"otel-plugins-testbed-llama-d{dim}-b{blocks}")
        w.add_context_length(ctx)
        w.add_embedding_length(dim)
        w.add_block_count(blocks)
        w.add_feed_forward_length(n_ff)
        w.add_head_count(n_head)
        w.add_head_count_kv(n_head_kv)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_rope_dimension_count(HEAD_DIM)
        w.add_rope_freq_base(10000.0)
        w.add_vocab_size(n_vocab)
        w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        for key, field in tok_fields.items():
            vtype = field.types[0]
            sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
            w.add_key_value(key, _field_value(field), vtype, sub_type=sub)

        rng = np.random.default_rng(seed)

        def rnd(*shape):
            a = rng.standard_normal(size=shape, dtype=np.float32)
            a *= 0.02
            return a.astype(np.float16)

        def ones(n):
            return np.ones(n, dtype=np.float32)

        # numpy shapes are the reverse of ggml's ne[]
        w.add_tensor("token_embd.weight", rnd(n_vocab, dim))
        for i in range(blocks):
            p = f"blk.{i}."
            w.add_tensor(p + "attn_norm.weight", ones(dim))
            w.add_tensor(p + "attn_q.weight", rnd(dim, dim))
            w.add_tensor(p + "attn_k.weight", rnd(n_head_kv * HEAD_DIM, dim))
            w.add_tensor(p + "attn_v.weight", rnd(n_head_kv * HEAD_DIM, dim))
            w.add_tensor(p + "attn_output.weight", rnd(dim, dim))
            w.add_tensor(p + "ffn_norm.weight", ones(dim))
            w.add_tensor(p + "ffn_gate.weight", rnd(n_ff, dim))
            w.add_tensor(p + "ffn_up.weight", rnd(n_ff, dim))
            w.add_tensor(p + "ffn_down.weight", rnd(dim, n_ff))
        w.add_tensor("output_norm.weight", ones(dim))
        w.add_tensor("output.weight", rnd(n_vocab, dim))

        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return out


def ensure_model(dim: int = 256, blocks: int = 2, out: str | os.PathLike | None = None,
                 vocab: str | os.PathLike | None = None, force: bool = False) -> pathlib.Path:
    """Return the path of the model, generating it first if it does not exist."""
    path = pathlib.Path(out) if out else default_model_path(dim, blocks)
    if path.is_file() and path.stat().st_size > 0 and not force:
        return path
    return write_model(path, dim, blocks, find_vocab(vocab))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=256, help="embedding length (multiple of 64)")
    ap.add_argument("--blocks", type=int, default=2, help="number of transformer blocks")
    ap.add_argument("--out", help="output path (default: cache/models/llama-d{dim}-b{blocks}.gguf)")
    ap.add_argument("--vocab", help=f"path of {VOCAB_NAME}")
    ap.add_argument("--force", action="store_true", help="regenerate even if the file exists")
    args = ap.parse_args(argv)
    path = ensure_model(args.dim, args.blocks, args.out, args.vocab, args.force)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
