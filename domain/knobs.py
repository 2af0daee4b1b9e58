"""Every tuning knob of tracegraph, in one place, each documented once. Modules import their
knob from here; nothing else defines a limit or a batch size.

Numba's compiled kernels are cached on disk (`cache=True` on every kernel): in
__pycache__/numba-<hash of the kernels' source> beside the sources when they are writable
(domain.kernel_cache), else numba's default; numba's own NUMBA_CACHE_DIR environment variable
moves the cache (engine.kernels_compiled() looks wherever it is).
"""

from __future__ import annotations

# -- ingest: batches and group commit --------------------------------------------------------

MAX_BATCH_RECORDS = 100_000
"""Most records (nodes + edges + retractions) one ingest batch may carry."""

MAX_SOURCE_LENGTH = 128
"""Longest batch source name (the part of a batch id before the slash)."""

MAX_KEY_BYTES = 512
"""Longest node key accepted (GS1 keys are under 100 bytes; ERP keys under 200)."""

MAX_ARROW_BYTES = 64 * 1024 * 1024
"""Most decoded bytes one Ingest Arrow table may take (a 100,000-record batch needs ~20 MB)."""

GROUP_RECORDS = 200_000
"""Most records one group commit takes: the writer joins waiting batches up to this many into
one synced RocksDB write."""

FILE_IN_FLIGHT = 32
"""Batches a file import queues ahead of their acknowledgements (lets group commit fill up)."""

STREAM_IN_FLIGHT = 64
"""Batches one Ingest stream reads ahead of their acknowledgements."""

KEEP_SNAPSHOTS = 2
"""Snapshots kept after a compaction: the newest and one fallback (older ones go once no
reader holds them)."""

# -- queries ---------------------------------------------------------------------------------

CANCEL_CHECK_EVERY = 4096
"""Nodes a walk visits between looks at its cancellation flag (a power of two: the check is a
mask). Compiled into the kernels: a change recompiles them."""

DEFAULT_ROWS = 1_000_000
"""Row limit of a gRPC query that names none."""

MAX_ROWS = 50_000_000
"""Highest row limit a gRPC query may ask for."""

MAX_SEEDS = 100_000
"""Most seed keys one gRPC query may name."""

UNARY_ROWS = 100_000
"""Most rows TraceUnary answers (keeps one message well under the size limit; a bigger answer
is OUT_OF_RANGE and the client streams instead)."""

DEFAULT_CHUNK_ROWS = 65_536
"""Rows per streamed RowChunk unless the request asks otherwise."""

MAX_CHUNK_ROWS = 262_144
"""Most rows per RowChunk a request may ask for."""

# -- the gRPC server's streams -----------------------------------------------------------------

MAX_STREAMS = 12
"""Streaming calls at once (of 16 workers: 4 stay for unary calls and health)."""

MAX_STREAMS_PER_PEER = 6
"""Streaming calls at once from one client host, whatever its connections."""

MAX_STREAMS_PER_CONNECTION = 4
"""Streaming calls at once on one connection."""

STALL_SECONDS = 60.0
"""A stream whose client takes nothing for this long is ended (RESOURCE_EXHAUSTED)."""

IDLE_SECONDS = 120.0
"""An Ingest stream that sends no batch and is owed nothing for this long is ended."""

WATCH_EVERY = 0.5
"""Seconds between the stream watchdog's rounds."""
