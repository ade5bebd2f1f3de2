"""Recording a take crash-safely: an append-only journal, converted to files at the end.

    recorder = Recorder("take.vrma", "take.bvh")      # opens take.journal beside the first file
    recorder.add(t_ms, state)                         # each body state, as it comes (cheap)
    recorder.close()                                  # -> [take.vrma, take.bvh]; the journal goes

    recover("take.journal")                           # after a crash: the files, from what was saved
    recover_all(folder)                               # every journal a crash left in a folder

The journal is a sequence of records, each ``MAGIC | u32 length | u32 crc32 |
payload`` (little-endian), the payload one msgpack map: first a header (the
output files, fps, when it started), then one chunk per second of take, each
a ``Motion`` in columns (motion.py: channel names once, values float32).
Every chunk is written, flushed and fsynced by a writer thread within about a
second of its first sample, so a crash (a killed process, a lost machine)
loses at most the last second; ``add`` never waits for the disk. Reading
stops at the first record that is cut short or fails its CRC (the tail a
crash leaves, possibly zeros), so a recovered take is every complete second.

Errors are clear and early: an output suffix other than .vrma, .glb or .bvh,
or a folder that cannot be written, at construction; a write that fails (a
full disk) in the writer thread, raised by the next ``add`` or ``close``
with the journal's path, which keeps what was saved so far.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import struct
import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import msgpack

from live2d_pose.recording.bvh import write_bvh
from live2d_pose.recording.motion import DEFAULT_FPS, Motion
from live2d_pose.recording.vrma import write_vrma

log = logging.getLogger("live2d_pose.recording")

MAGIC = b"L2PJ"
_HEAD = struct.Struct("<4sII")
FORMAT = "live2d-pose take journal"
VERSION = 1
JOURNAL_SUFFIX = ".journal"
CHUNK_MS = 1000.0  # a chunk per second of take: what a crash may lose
MAX_PENDING = 64  # chunks waiting for a slow disk before add() refuses (about a minute of take)


class RecordingError(RuntimeError):
    """Recording cannot go on (the disk is full, the folder went away ...); the journal keeps the take so far."""


# Output suffix -> the function(path, motion, fps) that writes that file from a take.
WRITERS = {".vrma": write_vrma, ".glb": write_vrma, ".bvh": write_bvh}


def journal_path(outputs: Sequence[Path]) -> Path:
    first = outputs[0]
    return first.with_name(first.stem + JOURNAL_SUFFIX)


class Recorder:
    """Records one take to files: ``add`` states while it runs, ``close`` at the end.

    ``outputs``: the files to write (the suffix says the format: .vrma / .glb for VRM Animation,
    .bvh). ``fps``: the files' frame rate (the states are resampled). ``journal``: where the take
    is saved while recording (default: beside the first output, its stem + .journal). ``meta``:
    anything msgpack can hold, kept in the journal's header (the stream's name, for instance).
    """

    def __init__(
        self,
        *outputs: str | Path,
        fps: float = DEFAULT_FPS,
        journal: str | Path | None = None,
        meta: dict | None = None,
        chunk_ms: float = CHUNK_MS,
    ):
        if not outputs:
            raise ValueError("name at least one output file (.vrma, .glb or .bvh)")
        self.outputs = [Path(o) for o in outputs]
        for path in self.outputs:
            if path.suffix.lower() not in WRITERS:
                raise ValueError(f"{path}: unknown format {path.suffix!r} (use .vrma, .glb or .bvh)")
            if not path.parent.is_dir():
                raise RecordingError(f"{path}: the folder {path.parent} does not exist")
        if not (fps > 0):
            raise ValueError(f"fps must be positive, not {fps!r}")
        self.fps = float(fps)
        self.chunk_ms = chunk_ms
        self.journal = Path(journal) if journal else journal_path(self.outputs)
        header = {
            "format": FORMAT,
            "version": VERSION,
            "fps": self.fps,
            "started": time.time(),
            "outputs": [os.path.relpath(p.resolve(), self.journal.resolve().parent) for p in self.outputs],
            "meta": meta or {},
        }
        try:
            self._file = open(self.journal, "xb")  # never over another take's journal
        except FileExistsError:
            raise RecordingError(
                f"{self.journal} exists: a take is being recorded there, or one was cut short (recover it first)"
            ) from None
        except OSError as exc:
            raise RecordingError(f"cannot write in {self.journal.parent}: {exc.strerror or exc}") from None
        self.samples = 0  # taken
        self.dropped = 0  # refused: older than the sample before, or no finite time
        self.rejected = 0  # left out by the writer: not a body state (a bone of 3 numbers ...)
        self.bytes_written = 0
        self._chunk: list[tuple[float, object]] = []
        self._first_ms: float | None = None
        self._last_ms: float | None = None
        self._error: BaseException | None = None
        self._closed = False
        self._queue: queue.Queue = queue.Queue()
        try:  # here, so that an unwritable journal fails now
            self._write(_record(header))
            _fsync_folder(self.journal.parent)  # the new file's name survives a crash too
        except (OSError, TypeError, ValueError) as exc:
            self._file.close()
            self.journal.unlink(missing_ok=True)
            raise RecordingError(f"cannot start {self.journal}: {exc}") from exc
        self._thread = threading.Thread(target=self._writer, name=f"recorder {self.journal.name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ while recording

    def add(self, t_ms: float, state) -> None:
        """One body state at ``t_ms`` (a BodyState or docs/rig.md's dict). A sample older than the
        one before, or at no finite time, is dropped (counted in ``dropped``); one at the same time
        replaces it."""
        self._raise_if_failed()
        if self._closed:
            raise RecordingError("the recorder is closed")
        if not math.isfinite(t_ms) or (self._last_ms is not None and t_ms < self._last_ms):
            self.dropped += 1
            return
        if self._first_ms is None:
            self._first_ms = t_ms
        self._last_ms = t_ms
        self._chunk.append((t_ms, state))
        self.samples += 1
        if t_ms - self._chunk[0][0] >= self.chunk_ms:
            self._flush()

    @property
    def duration_ms(self) -> float:
        return 0.0 if self._first_ms is None else self._last_ms - self._first_ms

    def _flush(self) -> None:
        if not self._chunk:
            return
        if self._queue.qsize() >= MAX_PENDING:
            raise RecordingError(
                f"the disk is not keeping up: {MAX_PENDING} s of take wait to be written to {self.journal}"
            )
        chunk, self._chunk = self._chunk, []
        self._queue.put(chunk)

    def _writer(self) -> None:
        """The thread that encodes and writes chunks, so the caller never waits for fsync."""
        while True:
            chunk = self._queue.get()
            try:
                if chunk is None:
                    return
                if self._error is None:  # failed once: keep what is on disk, drop the rest
                    self._write(_record({"chunk": self._columns(chunk).to_payload()}))
            except BaseException as exc:
                self._error = exc
                log.error("recording to %s failed: %s", self.journal, exc)
            finally:
                self._queue.task_done()

    def _columns(self, chunk: list) -> Motion:
        """A second of samples in columns; a sample that is no body state is left out and counted."""
        try:
            return Motion.from_samples(chunk)
        except (AttributeError, KeyError, TypeError, ValueError):
            kept = []
            for sample in chunk:
                try:
                    Motion.from_samples([sample])
                    kept.append(sample)
                except (AttributeError, KeyError, TypeError, ValueError) as exc:
                    self.rejected += 1
                    log.warning("%s: a sample at %s ms is no body state (%s); left out", self.journal, sample[0], exc)
            return Motion.from_samples(kept)

    def sync(self) -> None:
        """Wait until every chunk handed to the writer is on disk (the second being filled is not)."""
        self._queue.join()

    def _write(self, record: bytes) -> None:
        self._file.write(record)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.bytes_written += len(record)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            exc = self._error
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise RecordingError(
                f"writing {self.journal} failed ({why}); it keeps the take up to its last "
                f"saved second: recover it when there is room"
            ) from exc

    # ------------------------------------------------------------------ the end

    def stop(self) -> None:
        """Save what is left and close the journal (the files are not written)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._flush()
        finally:
            self._queue.put(None)
            self._thread.join()
            try:
                self._file.close()
            except OSError as exc:  # what a failed write left in the buffer (a full disk) fails again
                self._error = self._error or exc
        self._raise_if_failed()

    def close(self) -> list[Path]:
        """Stop, write the files from the journal, then delete it. Returns the files written."""
        self.stop()
        return convert(self.journal)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.stop()  # an error: keep the journal for recover()


# ------------------------------------------------------------------ records


def _fsync_folder(folder: Path) -> None:
    """Make a folder's entries (a new or renamed file) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _record(obj: dict) -> bytes:
    payload = msgpack.packb(obj, use_bin_type=True)
    return _HEAD.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _records(data: bytes):
    """The complete, intact records of a journal, in order; stops at the first damaged one."""
    at = 0
    while at + _HEAD.size <= len(data):
        magic, length, crc = _HEAD.unpack_from(data, at)
        payload = data[at + _HEAD.size : at + _HEAD.size + length]
        if magic != MAGIC or len(payload) < length or zlib.crc32(payload) != crc:
            return
        yield msgpack.unpackb(payload, raw=False)
        at += _HEAD.size + length


def read_journal(path: str | Path) -> tuple[dict, Motion]:
    """(header, take) from a journal, complete or cut short by a crash."""
    path = Path(path)
    records = _records(path.read_bytes())
    header = next(records, None)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path}: not a live2d-pose take journal")
    if header.get("version") != VERSION:
        raise ValueError(f"{path}: journal version {header.get('version')!r}, this reads {VERSION}")
    chunks = []
    for record in records:
        try:
            chunks.append(Motion.from_payload(record["chunk"]))
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("%s: a damaged chunk ends the take there (%s)", path, exc)
            break
    return header, Motion.concat(chunks)


def convert(journal: str | Path, keep: bool = False) -> list[Path]:
    """Write a journal's output files (each through a temporary name, so a file is whole or absent),
    then delete the journal unless ``keep``. A take without samples writes nothing."""
    journal = Path(journal)
    header, motion = read_journal(journal)
    outputs = [journal.parent / name for name in header["outputs"]]
    if not len(motion):
        log.warning("%s: the take has no samples; no files written", journal)
    else:
        for path in outputs:
            partial = path.with_name(path.name + ".partial")
            try:
                WRITERS[path.suffix.lower()](partial, motion, fps=header["fps"])
                with open(partial, "rb+") as written:
                    os.fsync(written.fileno())
                os.replace(partial, path)
            except BaseException:
                partial.unlink(missing_ok=True)  # the journal stays: convert again when the cause is gone
                raise
        _fsync_folder(journal.parent)  # the files are there for good before the journal goes
    if not keep:
        journal.unlink()
    return outputs if len(motion) else []


def recover(journal: str | Path) -> list[Path]:
    """The files of a take cut short (a crash, a full disk), up to its last saved second."""
    journal = Path(journal)
    written = convert(journal)
    log.info("recovered %s -> %s", journal, ", ".join(map(str, written)) or "nothing (no samples)")
    return written


def recover_all(folder: str | Path) -> list[Path]:
    """Recover every journal in ``folder`` (run at start, before recording there again)."""
    written = []
    for journal in sorted(Path(folder).glob(f"*{JOURNAL_SUFFIX}")):
        try:
            written += recover(journal)
        except (OSError, ValueError) as exc:
            log.error("cannot recover %s: %s", journal, exc)
    return written
