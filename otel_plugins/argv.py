"""What a launch command line says about the instance: which server, its port, model,
RPC endpoints and tensor split. Values are read, never changed."""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .redact import redact_argv


class ServerKind(str, enum.Enum):
    LLAMA_BOX = "llama-box"
    LLAMA_BOX_RPC = "llama-box-rpc-server"
    LLAMA_SERVER = "llama-server"
    RPC_SERVER = "rpc-server"
    GENERIC = "generic"

    @property
    def is_rpc_server(self) -> bool:
        return self in (ServerKind.RPC_SERVER, ServerKind.LLAMA_BOX_RPC)

    @property
    def is_model_server(self) -> bool:
        return self in (ServerKind.LLAMA_BOX, ServerKind.LLAMA_SERVER)


_VALUE_FLAGS = {
    "--port": "port",
    "--host": "host",
    "-m": "model",
    "--model": "model",
    "-a": "alias",
    "--alias": "alias",
    "--rpc": "rpc",
    "-ts": "tensor_split",
    "--tensor-split": "tensor_split",
    "--rpc-server-host": "rpc_host",
    "--rpc-server-port": "rpc_port",
    "-ngl": "n_gpu_layers",
    "--gpu-layers": "n_gpu_layers",
    "--n-gpu-layers": "n_gpu_layers",
    "-hf": "hf_repo",
    "--hf-repo": "hf_repo",
    "-mu": "model_url",
    "--model-url": "model_url",
}
_LAUNCHERS = frozenset({"stdbuf", "env", "nice", "ionice"})
# rpc-server's own short flags.
_RPC_FLAGS = {"-H": "rpc_host", "--host": "rpc_host", "-p": "rpc_port", "--port": "rpc_port"}


@dataclass(frozen=True)
class LaunchSpec:
    argv: tuple[str, ...]
    kind: ServerKind
    executable: str
    port: int | None = None
    host: str | None = None
    model: str | None = None
    alias: str | None = None
    rpc_endpoints: tuple[str, ...] = ()
    tensor_split: str | None = None
    listen: str | None = None  # rpc-server's own host:port
    n_gpu_layers: str | None = None  # as given: a number, "auto" or "all"
    router: bool = False  # llama-server managing model processes (no model of its own)
    redacted_argv: tuple[str, ...] = field(default=())

    @property
    def model_name(self) -> str | None:
        if self.alias:
            return self.alias
        return os.path.basename(self.model) if self.model else None


def server_kind(executable: str, argv: Sequence[str]) -> ServerKind:
    name = os.path.basename(executable).lower()
    if name.endswith(".exe"):
        name = name[:-4]
    if name.startswith("llama-box-rpc-server"):
        return ServerKind.LLAMA_BOX_RPC
    if name.startswith("llama-box"):
        if any(a.split("=", 1)[0] in ("--rpc-server-host", "--rpc-server-port") for a in argv):
            return ServerKind.LLAMA_BOX_RPC
        return ServerKind.LLAMA_BOX
    # versioned builds are named like llama-server-0.3.36, rpc-server-b5200
    base = re.sub(r"-v?\d[\w.]*$|-b\d+$", "", name)
    if base in ("llama-server", "server"):
        return ServerKind.LLAMA_SERVER
    if base in ("rpc-server", "llama-rpc-server", "ggml-rpc-server"):
        return ServerKind.RPC_SERVER
    return ServerKind.GENERIC


def _strip_launchers(argv: Sequence[str]) -> list[str]:
    """The server's own command inside `stdbuf -oL`, `env A=B`, `nice -n 5` and the like."""
    args = list(argv)
    while args and os.path.basename(args[0]) in _LAUNCHERS:
        launcher = os.path.basename(args.pop(0))
        while args and (args[0].startswith("-") or (launcher == "env" and "=" in args[0])):
            option = args.pop(0)
            if launcher == "nice" and option == "-n" and args:
                args.pop(0)
    return args or list(argv)


def parse_launch(argv: Sequence[str]) -> LaunchSpec:
    if not argv:
        raise ValueError("argv: the command to run is empty")
    command = _strip_launchers(argv)
    executable = command[0]
    kind = server_kind(executable, command[1:])
    flags = _RPC_FLAGS if kind is ServerKind.RPC_SERVER else _VALUE_FLAGS
    values: dict[str, str] = {}
    args = command[1:]
    i = 0
    while i < len(args):
        flag, eq, inline = args[i].partition("=")
        key = flags.get(flag)
        if key is not None:
            if eq:
                values[key] = inline
            elif i + 1 < len(args):
                values[key] = args[i + 1]
                i += 1
        i += 1
    listen = None
    if kind.is_rpc_server:
        host = values.get("rpc_host", "127.0.0.1" if kind is ServerKind.RPC_SERVER else "0.0.0.0")
        port = values.get("rpc_port", "50052")
        listen = f"{host}:{port}"
    rpc = tuple(ep.strip() for ep in values.get("rpc", "").split(",") if ep.strip())
    port_text = values.get("port") if not kind.is_rpc_server else values.get("rpc_port", "50052")
    return LaunchSpec(
        argv=tuple(argv),
        kind=kind,
        executable=os.path.basename(executable),
        port=int(port_text) if port_text and port_text.isascii() and port_text.isdigit() else None,
        host=values.get("host"),
        model=values.get("model"),
        alias=values.get("alias"),
        rpc_endpoints=rpc,
        tensor_split=values.get("tensor_split"),
        listen=listen,
        n_gpu_layers=values.get("n_gpu_layers"),
        # llama.cpp since late 2025: without a model, llama-server starts as a router
        # (`sources.router_events` confirms it on the server before relying on it)
        router=kind is ServerKind.LLAMA_SERVER and not any(values.get(k) for k in ("model", "hf_repo", "model_url")),
        redacted_argv=tuple(redact_argv(argv)),
    )
