"""Reading W&B's transaction log (``run-<id>.wandb``) without W&B's servers.

The report reads offline runs from it, and the run logger reads it back after
``finish()`` to know the run's record is on disk: W&B's service process closes
the log after ``finish()`` has returned, so a reader that comes straight after
(a report in the same process, a copy of the run folder) could otherwise find
the log without its end.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from biasgrpo.errors import ReportError

WANDB_HEADER, WANDB_BLOCK = 7, 32768
FULL, FIRST, LAST = 1, 2, 4


def wandb_records(path: Path) -> Iterator[Any]:
    """The protobuf ``Record`` s of a W&B transaction log, in order.

    W&B writes LevelDB's log format after a 7-byte header (``:W&B``, magic, version): 32 KiB
    blocks of pieces ``crc32 (4) | length (2) | type (1) | data``, a record split over blocks as
    FIRST, MIDDLE..., LAST; a block tail too short for a piece header is zero padding. A log cut
    short by a kill ends at its last whole record.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    if data[:4] != b":W&B":
        raise ReportError(f"{path} is not a W&B transaction log (no :W&B header); is the run directory complete?")
    pos, record = WANDB_HEADER, b""
    while pos + WANDB_HEADER <= len(data):
        if WANDB_BLOCK - pos % WANDB_BLOCK < WANDB_HEADER:
            pos += WANDB_BLOCK - pos % WANDB_BLOCK
            continue
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        piece = data[pos + WANDB_HEADER : pos + WANDB_HEADER + length]
        pos += WANDB_HEADER + length
        if kind == 0 or len(piece) < length or zlib.crc32(piece, zlib.crc32(bytes([kind]))) != crc:
            return
        record = piece if kind in (FULL, FIRST) else record + piece
        if kind in (FULL, LAST):
            parsed = wandb_internal_pb2.Record()
            parsed.ParseFromString(record)
            yield parsed


def has_exit_record(path: Path) -> bool:
    """Whether the log holds its run's exit record (written last, by ``finish()``)."""
    if not path.exists() or path.stat().st_size < WANDB_HEADER:
        return False
    return any(r.WhichOneof("record_type") == "exit" for r in wandb_records(path))


def wait_for_exit_record(path: Path, timeout_s: float, poll_s: float = 0.1) -> bool:
    """Poll until the log holds its exit record; False if ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while not has_exit_record(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
    return True
