"""Start, listen, load, ready, stop: the lifecycle markers of every producer, as rules.

Two tables, looked up by key so that a line costs one dict probe, not a regex per rule:
`TAGGED` for llama.cpp / llama-box `tag: message` lines (section 4 of the reference),
`WORDS` for untagged messages keyed by their first word (uvicorn, vLLM, SGLang,
GPUStack, llama-swap, ollama, ramalama). A dialect that has cut a message out of its own
prefix hands it to `WORDS` (`inner=WORDS`); the rule's kind, event and fields join its record.

Kinds: a marker is Kind.LIFECYCLE, except LOAD_FAILED (kind ERROR, severity ERROR when
the line states none: the operator must see it). Model-loading starts (`main: loading
model`) belong to `loading.py` (kind LOAD, event LOADING).
"""

from __future__ import annotations

import re

from otel_plugins import names
from otel_plugins.record import Event, Kind, Severity

from ._common import URL_HOST, URL_PORT, ascii_digits
from .shape import F, INT, Conv, Keyed, Rule, Shape

# `srv  load_model: body`, `main: body`: llama.cpp's component and function tag.
_COMPONENT = r"(?:(?:srv|slt|slot|que|cli|cmn|res|ctx) +)?"
_BODY = r":(?: +(?P<body>.*)|$)"
TAG = _COMPONENT + r"(?P<tag>[A-Za-z_~][\w.~]*(?:\(\))?)" + _BODY

_ADDR = (F("host", names.SERVER_ADDRESS), F("port", names.SERVER_PORT, INT))
_URL = (F("url", names.SERVER_ADDRESS, URL_HOST), F("url", names.SERVER_PORT, URL_PORT))
_PID = (F("pid", names.PID, INT),)
_ARG = re.compile(r"--(model|port|alias) (\S+)")


def _arg(flag: str) -> Conv:
    """The last `--flag value` of a launch command line."""

    def value(args: str) -> str | int | None:
        found = [v for key, v in _ARG.findall(args) if key == flag]
        if not found:
            return None
        if flag == "port":
            return int(found[-1]) if ascii_digits(found[-1]) else None
        return found[-1]

    return Conv("arg:" + flag, value)


_BOX = "llama-box"
_FAILED = dict(kind=Kind.ERROR, severity=Severity.ERROR)
_STOP = r".*cleaning up before exit"


def _rules(key: str, *rules: tuple) -> tuple[Rule, ...]:
    return tuple(Rule(f"{key}.{i}", pattern, event, **kw) for i, (pattern, event, kw) in enumerate(rules))


def r(pattern: str, event: Event | None, **kw) -> tuple:
    return pattern, event, kw


TAGGED = Keyed(
    "lifecycle.tagged",
    {
        "main": _rules(
            "main",
            r(r"listening, hostname = (?P<host>\S+), port = (?P<port>\d+)", Event.LISTENING, fields=_ADDR, producer=_BOX),
            r(r"HTTP server is listening, hostname: (?P<host>\S+), port: (?P<port>\d+)", Event.LISTENING, fields=_ADDR),
            r(r"model loaded", Event.LOADED),
            # llama-box v1 initialises its slots once the model is in memory.
            r(r"initializing server", Event.LOADED, producer=_BOX),
            r(r"starting server", Event.READY, producer=_BOX),
            r(r"server is listening on (?P<url>\S+)", Event.READY, fields=_URL),
            # Newer builds print the READY line above first; this one only confirms it.
            r(r"starting the main loop", None),
            r(r"exiting due to model loading error", Event.LOAD_FAILED, **_FAILED),
            r(_STOP, Event.STOPPING),
            r(r"binding port", Event.STARTING),
            r(r"load the model", Event.LOADING, kind=Kind.LOAD),
        ),
        "start": _rules(
            "start",
            r(r"starting\s*$", Event.STARTING, producer=_BOX),
            r(r"listening host = (?P<host>\S+), port = (?P<port>\d+)", Event.LISTENING, fields=_ADDR, producer=_BOX),
            r(r"server is ready", Event.READY, producer=_BOX),
            r(r"server is not ready", Event.NOT_READY, producer=_BOX),
            r(r"server is stopping", Event.STOPPING),
            r(r"binding port", Event.STARTING),
        ),
        "load": _rules(
            "load",
            r(
                r"spawning server instance with name=(?P<name>\S+) on port (?P<port>\d+)", Event.STARTING,
                fields=(F("name", names.MODEL_NAME), F("port", names.SERVER_PORT, INT)),
            ),
        ),
        "load_model": _rules(
            "load_model", r(r"failed to load model(?:, '(?P<path>.*)')?", Event.LOAD_FAILED, fields=(F("path", names.MODEL_PATH),), **_FAILED)
        ),
        "llama_model_load_from_file_impl": _rules("llama_model_load_from_file_impl", r(r"failed to load model", Event.LOAD_FAILED, **_FAILED)),
        "common_init_from_params": _rules(
            "common_init_from_params",
            r(r"failed to load model(?: '(?P<path>.*)')?", Event.LOAD_FAILED, fields=(F("path", names.MODEL_PATH),), **_FAILED),
        ),
        "operator()": _rules("operator()", r(_STOP, Event.STOPPING)),
        # llama-server 0.3.36: `srv  llama_server: model loaded` is its last line before serving
        "llama_server": _rules(
            "llama_server",
            r(r"model loaded", Event.READY),
            r(r"listening on (?P<url>\S+)", Event.LISTENING, fields=_URL),
            r(r"starting server in router mode", None),
            r(r"server is listening on (?P<url>\S+)", Event.LISTENING, fields=_URL),
        ),
        # llama-server's router: a request handed to a model's child instance
        "proxy_reques": _rules(
            "proxy_reques",
            r(r"proxying request to model (?P<name>\S+) on port (?P<port>\d+)", None, kind=Kind.HTTP,
              fields=(F("name", names.MODEL_NAME), F("port", names.SERVER_PORT, INT))),
        ),
        "run": _rules("run", r(r"instance name=(?P<name>\S+) exited with status (?P<code>-?\d+)", None, fields=(F("name", names.MODEL_NAME), F("code", names.ATTR_EXIT_CODE, INT)))),
    },
    by_tag=True,
)

_LOAD = dict(kind=Kind.LOAD)
_MODEL = (F("name", names.MODEL_NAME),)
_PROGRESS = dict(kind=Kind.PROGRESS)
_TRITON = "triton"
_TGI = "text-generation-inference"

WORDS = Keyed(
    "lifecycle.words",
    {
        "exiting": _rules("exiting", r(r"exiting due to model loading error", Event.LOAD_FAILED, **_FAILED)),
        "Received": _rules("Received", r(r"Received second interrupt", Event.STOPPING, producer="llama.cpp")),
        "received": _rules("received", r(r"received (?:signal|second interrupt)", Event.STOPPING)),
        # uvicorn, gunicorn, Triton, systemd
        "Started": _rules(
            "Started",
            r(r"Started server process \[(?P<pid>\d+)\]", Event.STARTING, fields=_PID, producer="uvicorn"),
            r(r"Started (?:GRPCInferenceService|GRPCService|HTTPService|Metrics Service) at (?P<url>\S+)", Event.LISTENING, fields=_URL, producer=_TRITON),
            r(r"Started \S.*\.\s*$", Event.STARTING),  # systemd: `Started Ollama Service.`
            r(r"Started container \S+\s*$", Event.STARTING),  # a Kubernetes event
            r(r"Started a local Ray instance\b", Event.STARTING, producer="ray"),
        ),
        "Waiting": _rules(
            "Waiting",
            r(r"Waiting for application startup", Event.STARTING, producer="uvicorn"),
            r(r"Waiting for application shutdown", Event.STOPPING, producer="uvicorn"),
            r(r"Waiting for shard to be ready", None, producer=_TGI, **_PROGRESS),
            r(r"Waiting for shard to gracefully shutdown", Event.STOPPING, producer=_TGI),
            r(r"Waiting for in-flight requests to complete", Event.STOPPING, producer=_TRITON),
        ),
        "Application": _rules(
            "Application",
            r(r"Application startup complete", Event.READY, producer="uvicorn"),
            r(r"Application shutdown complete", Event.STOPPING, producer="uvicorn"),
        ),
        "Uvicorn": _rules("Uvicorn", r(r"Uvicorn running on (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="uvicorn")),
        "Shutting": _rules("Shutting", r(r"Shutting down", Event.STOPPING)),
        "Finished": _rules("Finished", r(r"Finished server process \[(?P<pid>\d+)\]", Event.STOPPING, fields=_PID, producer="uvicorn")),
        "Booting": _rules("Booting", r(r"Booting worker with pid: (?P<pid>\d+)", Event.STARTING, fields=_PID, producer="gunicorn")),
        "Handling": _rules("Handling", r(r"Handling signal: (?:term|int|quit)\b", Event.STOPPING, producer="gunicorn")),
        "Listening": _rules(
            "Listening",
            r(r"Listening at: (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="gunicorn"),
            r(r"Listening on (?P<url>\S+)", Event.LISTENING, fields=_URL),
        ),
        # vLLM, GPUStack, TGI, Xinference, Triton, BentoML, LocalAI, mlx, SGLang's router
        "Starting": _rules(
            "Starting",
            r(r"Starting vLLM (?:API )?server(?: \d+)? on (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="vllm"),
            r(r"Starting GPUStack server", Event.STARTING, producer="gpustack"),
            r(r"Starting gpustack", Event.STARTING, producer="gpustack"),
            r(r"Starting [\w.-]+ server", Event.STARTING),
            r(r"Starting (?:HTTPService|Metrics Service) at (?P<url>\S+)", Event.LISTENING, fields=_URL, producer=_TRITON),
            r(r"Starting Xinference at endpoint: (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="xinference"),
            r(r"Starting production HTTP BentoServer .*? listening on (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="bentoml"),
            r(r"Starting httpd at (?P<host>\S+) on port (?P<port>\d+)", Event.LISTENING, fields=_ADDR),
            r(r"Starting router on (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="sglang"),
            r(r"Starting (?:vLLM|SGLang|llama-box|llama\.cpp|[\w.-]+) model instance", Event.STARTING, producer="gpustack"),
            r(r"Starting (?:gunicorn|uvicorn|LocalAI)\b", Event.STARTING),
            r(r"Starting shard\b", Event.STARTING, producer=_TGI),
            r(r"Starting Webserver", Event.LISTENING, producer=_TGI),
            r(r"Starting download process", Event.LOADING, producer=_TGI, **_LOAD),
            r(r"Starting [\w.-]+ worker\b", Event.STARTING),  # `Starting GPUStack worker.`
            r(r"Starting [\w.\- ]+? API on port (?P<port>\d+)", Event.LISTENING, fields=(F("port", names.SERVER_PORT, INT),)),  # KoboldCpp
            r(r"Starting [\w.-]+ API\s*$", Event.STARTING),  # TabbyAPI: `Starting OAI API`
            # text-embeddings-inference: its backend, then the model on a device
            r(r"Starting model backend\b", Event.LOADING, producer="text-embeddings-inference", **_LOAD),
            r(r"Starting [\w.-]+ model on \S+", Event.LOADING, **_LOAD),
        ),
        "Loads": _rules("Loads", r(r"Loads OK\s*$", Event.LOADED, producer="localai", **_LOAD)),  # LocalAI: a backend loaded the model
        "Preloading": _rules("Preloading", r(r"Preloading model: (?P<name>\S+)\s*$", Event.LOADING, fields=_MODEL, producer="llama-swap", **_LOAD)),
        "GRPC": _rules("GRPC", r(r"GRPC shutdown complete", Event.STOPPING, producer=_TRITON)),  # Triton's Python backend
        "Provisioning": _rules("Provisioning", r(r"Provisioning model instance", Event.STARTING, producer="gpustack")),
        "Creating": _rules("Creating", r(r"Creating [\w.-]+ container workload", Event.STARTING, producer="gpustack")),
        "Initializing": _rules(
            "Initializing",
            r(r"Initializing Triton Inference Server", Event.STARTING, producer=_TRITON),
            # vLLM's engine (`an LLM engine (v0.4.0)`, `a V1 LLM engine`), and its fork Aphrodite's
            r(r"Initializing an? (?:V1 )?LLM engine\b", Event.STARTING),
        ),
        "Xinference": _rules("Xinference", r(r"Xinference (?:supervisor|worker) \S+ started", Event.STARTING, producer="xinference")),
        "Run": _rules(
            "Run",
            r(
                r"Run llama-box: \S+ with arguments: (?P<args>.*)", Event.STARTING,
                fields=(F("args", names.MODEL_PATH, _arg("model")), F("args", names.MODEL_NAME, _arg("alias")), F("args", names.SERVER_PORT, _arg("port"))),
            ),
        ),
        "GPUStack": _rules(
            "GPUStack",
            r(r"GPUStack Server is ready", Event.READY, producer="gpustack"),
            r(r"GPUStack version: ", Event.STARTING, producer="gpustack"),
        ),
        "Serving": _rules(
            "Serving",
            r(r"Serving on (?P<url>\S+?)\.?$", Event.LISTENING, fields=_URL),
            # A side service of a supervisor (`Serving worker APIs on 0.0.0.0:10150.`): not the model's.
            r(r"Serving [\w ]+? on (?P<host>[^\s:\[\]]+|\[[^\]]+\]):(?P<port>\d+)\.?$", None, fields=_ADDR),
        ),
        "HTTP": _rules("HTTP", r(r"HTTP server listening\b", Event.LISTENING)),  # llama.cpp's 2024 JSON log, llamafile
        "Model": _rules(
            "Model",
            r(r"Model loaded\.?\s*$", Event.LOADED),  # mistral.rs
            r(r"Model loading took", Event.LOADED, producer="vllm", **_LOAD),
        ),
        "loading": _rules("loading", r(r"loading weights\.\.\.", Event.LOADING, **_LOAD)),  # llamafile, llama.cpp's 2023 server
        # Triton's model repository: each model (and version) it loads, serves, or unloads.
        "loading:": _rules("loading:", r(r"loading: (?P<name>[^\s:]+):\d+\s*$", Event.LOADING, fields=_MODEL, producer=_TRITON, **_LOAD)),
        "successfully": _rules(
            "successfully",
            r(r"successfully loaded '(?P<name>[^']+)'", Event.LOADED, fields=_MODEL, producer=_TRITON, **_LOAD),
            r(r"successfully unloaded '(?P<name>[^']+)'", None, fields=_MODEL, producer=_TRITON),
        ),
        "unloading:": _rules("unloading:", r(r"unloading: (?P<name>[^\s:]+):\d+\s*$", None, fields=_MODEL, producer=_TRITON)),
        "Removing": _rules("Removing", r(r"Removing \d+ replicas? from Deployment", None, producer="ray")),  # Ray Serve scaling down
        # TensorRT-LLM's engine: its size as it loads, and the execution context it allocates.
        "Loaded": _rules("Loaded", r(r"Loaded engine size: ", None, producer="tensorrt-llm", **_LOAD)),
        "Allocated": _rules("Allocated", r(r"Allocated [\d.]+ [KMG]iB for execution context memory", None, producer="tensorrt-llm", **_LOAD)),
        "serving": _rules("serving", r(r"serving on port (?P<port>\d+)", Event.LISTENING, fields=(F("port", names.SERVER_PORT, INT),), producer="ramalama")),
        "See": _rules("See", r(r"See all Router/Swagger docs on (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="litellm")),
        "Connected": _rules("Connected", r(r"Connected\s*$", Event.READY, producer=_TGI)),
        "Parent": _rules("Parent", r(r"Parent process exited, terminating worker", Event.STOPPING)),
        "Terminating": _rules("Terminating", r(r"Terminating (?:shards|webserver)", Event.STOPPING, producer=_TGI)),
        # text-generation-inference fetching a model's files: `Download: [8/19] -- ETA: 0:00:37.125000`
        "Download:": _rules("Download:", r(r"Download: \[\d+/\d+\]", None, producer=_TGI, **_PROGRESS)),
        "Download": _rules("Download", r(r"Download file: \S", None, producer=_TGI, **_LOAD)),
        "Downloaded": _rules("Downloaded", r(r"Downloaded \S+\.safetensors in ", None, producer=_TGI, **_LOAD)),
        "Shard": _rules(
            "Shard",
            r(r"Shard ready in", Event.LOADED, producer=_TGI),
            r(r"Shard terminated", Event.WORKER_EXITED, producer=_TGI),
        ),
        "shard": _rules("shard", r(r"shard terminated", Event.WORKER_EXITED, producer=_TGI)),
        "Server": _rules(
            "Server",
            r(r"Server started at (?P<url>\S+)", Event.STARTING, producer=_TGI),
            r(r"Server started\.?\s*$", Event.STARTING),  # LM Studio, after its endpoints
            r(r"Server stopped", Event.STOPPING),
        ),
        "Stopping": _rules(
            "Stopping",
            r(r"Stopping (?:server|the server)\b", Event.STOPPING),
            r(r"Stopping \S.*\.\.\.\s*$", Event.STOPPING),  # systemd: `Stopping Ollama Service...`
        ),
        # systemd: `Stopped Ollama Service.`, after its `Stopping ...` (which moved the phase): any
        # `Stopped x.` is not taken for a stop of the server
        "Stopped": _rules("Stopped", r(r"Stopped \S.*\.\s*$", None)),
        # Loading: model weights, shards, servables, progress bars
        "Loading": _rules(
            "Loading",
            r(r"Loading (?:model )?weights took", Event.LOADED, producer="vllm", **_LOAD),
            r(r"Loading [\w ]*checkpoint shards: +(?P<pct>\d+)% Completed", None, fields=(F("pct", names.LOAD_PERCENT, INT),), **_PROGRESS),
            r(r"Loading (?:servable version|encoder model|model\b)", Event.LOADING, **_LOAD),
        ),
        "Load": _rules(
            "Load",
            r(r"Load weight begin", Event.LOADING, producer="sglang", **_LOAD),
            r(r"Load weight end", Event.LOADED, producer="sglang", **_LOAD),
        ),
        "Successfully": _rules(
            "Successfully",
            r(r"Successfully loaded [\w ]*model\b", Event.LOADED),
            r(r"Successfully (?:loaded tokenizer|reserved resources to load|downloaded weights)", None, **_LOAD),
        ),
        "Reloaded": _rules("Reloaded", r(r"Reloaded model '(?P<name>[^']+)' successfully", Event.LOADED, fields=(F("name", names.MODEL_NAME),))),
        "Approving": _rules("Approving", r(r"Approving load for servable", None, **_LOAD)),
        "Reading": _rules("Reading", r(r"Reading (?:SavedModel from|meta graph)", None, **_LOAD)),
        "SavedModel": _rules("SavedModel", r(r"SavedModel load for tags .*Status: success\b", None, **_LOAD)),
        "Running": _rules("Running", r(r"Running initialization op on SavedModel bundle\b", None, **_LOAD)),
        # Triton's backend API, as each backend sets up a model and its instances: load steps.
        **{
            f"TRITONBACKEND_{step}:": _rules(f"TRITONBACKEND_{step}:", r(rf"TRITONBACKEND_{step}: \S", None, producer=_TRITON, **_LOAD))
            for step in ("Initialize", "ModelInitialize", "ModelInstanceInitialize")
        },
        # llama-server's router mode: a model's child instance telling the router it serves.
        "cmd_child_to_router:ready": _rules("cmd_child_to_router:ready", r(r"cmd_child_to_router:ready\s*$", None, producer="llama.cpp")),
        "offload": _rules("offload", r(r"offload to \w+", None, producer="ollama", **_LOAD)),
        # SGLang
        "The": _rules("The", r(r"The server is fired up and ready to roll", Event.READY, producer="sglang")),
        # llama-swap
        "llama-swap": _rules("llama-swap", r(r"llama-swap listening on (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="llama-swap")),
        # ollama runner, and llama.cpp's 2023 server
        "llama": _rules(
            "llama",
            r(r"llama runner started in", Event.READY, producer="ollama"),
            r(r"llama runner (?:process )?(?:has )?terminated", Event.STOPPING, producer="ollama"),
            r(r"llama runner stopped successfully", Event.STOPPING, producer="ollama"),
            r(r"llama server listening at (?P<url>\S+)", Event.LISTENING, fields=_URL, producer="llama.cpp"),
        ),
        "starting": _rules(
            "starting",
            r(r"starting llama server", Event.STARTING, producer="ollama"),
            r(r"starting go runner", Event.STARTING, producer="ollama"),  # ollama's own engine, 2025
            r(r"starting [Oo]llama(?: server)?\s*$", Event.STARTING, producer="ollama"),  # the desktop app starting its server
            r(r"starting ui server\b", None, producer="ollama"),  # the desktop app's own UI: not the model server
        ),
        # ollama's desktop app, which supervises the server
        "ollama": _rules("ollama", r(r"ollama app started\b", None, producer="ollama")),
        "existing": _rules("existing", r(r"existing instance found, exiting\b", None, producer="ollama")),
        # a wrapper's own words about the server it runs (py-txi: `+ TGI server ready at http://...`)
        "+": _rules(
            "+",
            r(r"\+ [\w.-]+ server ready at (?P<url>\S+)", Event.READY, fields=_URL),
            r(r"\+ Stop+ing [\w.-]+ container", Event.STOPPING),
            r(r"\+ Waiting for [\w.-]+ container to stop", Event.STOPPING),
        ),
        "waiting": _rules(
            "waiting",
            r(r"waiting for llama runner to start", Event.STARTING, producer="ollama"),
            r(r"waiting for server to become available", None, producer="ollama", **_PROGRESS),
        ),
    },
)

# A message that one of the word rules matches (each starts with its key word).
WORD_MESSAGE = WORDS.rules() + ".*"

# The llama.cpp / llama-box markers as a dialect of their own: a tagged line the tag table
# knows (producer llama.cpp unless the rule names one), else a message the word table knows.
LIFECYCLE_TAGGED = Shape(
    "lifecycle.tagged", _COMPONENT + "(?P<tag>" + TAGGED.keys() + ")" + _BODY, "lifecycle", tag_group="tag", message="body", inner=TAGGED, required=True,
    default_producer="llama.cpp", guard=_COMPONENT + "(?:" + "|".join(re.escape(k) + ": +" + TAGGED.rules(k) for k in TAGGED.table) + ").*$", examples=("main: model loaded", "srv  start: server is ready"),
)
LIFECYCLE_WORDS = Shape("lifecycle.words", WORD_MESSAGE + "$", "lifecycle", inner=WORDS, required=True, examples=("Uvicorn running on http://0.0.0.0:8000",))
LIFECYCLE = (LIFECYCLE_TAGGED, LIFECYCLE_WORDS)

__all__ = ["LIFECYCLE", "TAG", "TAGGED", "WORDS", "WORD_MESSAGE"]
