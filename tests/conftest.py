"""Where the shared corpus is: `../shared/corpus` beside the checkout (as CI lays it out),
or OTEL_PLUGINS_CORPUS."""

from __future__ import annotations

import os
from pathlib import Path

CORPUS_DIR = Path(os.environ.get("OTEL_PLUGINS_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
