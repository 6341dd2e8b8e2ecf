"""What the message of a line in another server's format can be: an HTTP access line (uvicorn's,
the Common Log Format, BentoML's, a bare request line), a line of a crash or a Python traceback
(a relay that logs a child's output line by line at its own level: TorchServe's
`[INFO ] W-9000-x-stdout org.pytorch.serve.wlm.WorkerLifeCycle -   File ...`),
a lifecycle, load or progress marker (`lifecycle.WORDS`), or, where the line states no level, a
plain failure (`generic.ERROR_WORDS`).

Formats that wrap messages (Python logging, log4j, glog, Rust `tracing`, Go's `log`...) hand
their message here (`inner=MESSAGE`); a match joins their record (the access line's fields,
the marker's kind and event; a crash part keeps its own severity, see `shape.merge`), otherwise
the line keeps its own level and kind.
"""

from __future__ import annotations

from .access import ACCESS, REQUEST_LINE
from .crash import CRASH_PARTS
from .generic import BODY_ERROR
from .lifecycle import WORD_MESSAGE, WORDS
from .shape import Chain, Shape

# A marker from the word table, annotating the wrapping line (a partial record: no dialect).
MARKER = Shape("message.marker", WORD_MESSAGE + "$", None, inner=WORDS, required=True)
# A crash part before the markers: `RuntimeError: Engine core initialization failed` is the exception.
MESSAGE = Chain("message", (*ACCESS, REQUEST_LINE, *CRASH_PARTS, MARKER, BODY_ERROR))

__all__ = ["MARKER", "MESSAGE"]
