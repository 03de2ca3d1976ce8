"""Follow a live audit log through rotation, like ``tail -F``, without losing or repeating lines.

The API server (lumberjack) rotates by renaming ``audit.log`` to a timestamped backup and
creating a new file; logrotate may instead copy and truncate it. The follower keeps the open
file: when the path names a new file (another inode) it first reads the old one to its end,
then opens the new one from its start; when the file shrinks under it (truncation) it reads
from the start again. Only complete lines are yielded; a partial last line waits for its end.
Lines written between the last read and a ``copytruncate`` are lost, as with any reader of that
scheme; renaming (the API server's way) loses nothing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import IO

from kapsec.auditlog.reader import Location

READ_SIZE = 1 << 20


class Follower:
    def __init__(self, path: str, *, from_start: bool = False, poll: float = 0.2) -> None:
        self.path = path
        self.poll = poll
        self._fh: IO[bytes] | None = None
        self._ino: tuple[int, int] | None = None
        self._skip_partial = False
        self._buf = b""
        self._line = 0
        self._pos = 0
        self.rotations = 0
        self.truncations = 0
        # Backups already there (or already read) are never read again.
        self._read: set[tuple[int, int]] = {key for key, _ in self._backups()}
        self._mtime = 0.0
        self._open(at_end=not from_start)

    def _open(self, at_end: bool) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            return False
        st = os.fstat(fh.fileno())
        self._fh = fh
        self._ino = (st.st_dev, st.st_ino)
        self._buf = b""
        self._line = 0
        self._pos = 0
        if at_end:
            # Count the lines we skip so that line numbers stay true.
            while chunk := fh.read(READ_SIZE):
                self._line += chunk.count(b"\n")
                self._pos += len(chunk)
            if self._pos and not self._ends_with_newline():
                # Unfinished last line: start after the next newline.
                self._skip_partial = True
            fh.seek(self._pos)
        return True

    def _backups(self) -> list[tuple[tuple[int, int], str]]:
        """Rotated siblings (``audit-*`` beside ``audit.log``, not compressed), oldest first."""
        d = os.path.dirname(self.path) or "."
        stem = os.path.basename(self.path).split(".", 1)[0] + "-"
        out = []
        try:
            names = os.listdir(d)
        except OSError:
            return []
        for n in names:
            if not n.startswith(stem) or n.endswith(".gz"):
                continue
            p = os.path.join(d, n)
            try:
                st = os.stat(p)
            except OSError:
                continue
            out.append(((st.st_dev, st.st_ino), p, st.st_mtime))
        out.sort(key=lambda x: x[2])
        return [(k, p) for k, p, _ in out]

    def _catch_up(self, current: tuple[int, int]) -> list[tuple[bytes, Location]]:
        """Files rotated away before we saw them (two rotations within one poll)."""
        out: list[tuple[bytes, Location]] = []
        for key, p in self._backups():
            if key in self._read or key == current:
                continue
            try:
                if os.stat(p).st_mtime < self._mtime:
                    continue
                with open(p, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            self._read.add(key)
            for i, raw in enumerate(data.splitlines(keepends=True), 1):
                out.append((raw, Location(p, i)))
        return out

    def _ends_with_newline(self) -> bool:
        assert self._fh is not None
        self._fh.seek(self._pos - 1)
        last = self._fh.read(1)
        return last == b"\n"

    def _drain(self) -> list[tuple[bytes, Location]]:
        out: list[tuple[bytes, Location]] = []
        if self._fh is None:
            return out
        while chunk := self._fh.read(READ_SIZE):
            self._pos += len(chunk)
            data = self._buf + chunk
            parts = data.split(b"\n")
            self._buf = parts.pop()
            for raw in parts:
                self._line += 1
                if self._skip_partial:
                    self._skip_partial = False
                    continue
                out.append((raw + b"\n", Location(self.path, self._line)))
        return out

    def poll_once(self) -> list[tuple[bytes, Location]]:
        """Lines that arrived since the last call, through any rotation or truncation."""
        out = self._drain()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return out  # between rename and re-creation: keep the old file
        if self._fh is None:
            if self._open(at_end=False):
                out.extend(self._drain())
            return out
        if (st.st_dev, st.st_ino) != self._ino:
            # Renamed away: whatever the writer still put in the old file, then the new file.
            out.extend(self._drain())
            if self._buf:
                self._line += 1
                out.append((self._buf, Location(self.path, self._line)))
            assert self._ino is not None
            self._read.add(self._ino)
            with contextlib.suppress(OSError):
                self._mtime = os.fstat(self._fh.fileno()).st_mtime
            self._fh.close()
            self.rotations += 1
            out.extend(self._catch_up((st.st_dev, st.st_ino)))
            if self._open(at_end=False):
                out.extend(self._drain())
            return out
        if st.st_size < self._pos:
            self.truncations += 1
            self._fh.seek(0)
            self._pos = 0
            self._buf = b""
            self._line = 0
            out.extend(self._drain())
        return out

    def lines(
        self, stop: Callable[[], bool], idle_exit: float | None = None
    ) -> Iterator[tuple[bytes, Location] | None]:
        """Yield lines as they come, and None each time the log has been idle for one poll."""
        last = time.monotonic()
        while not stop():
            got = self.poll_once()
            if got:
                last = time.monotonic()
                yield from got
                continue
            yield None
            if idle_exit is not None and time.monotonic() - last >= idle_exit:
                return
            time.sleep(self.poll)
        yield from self.poll_once()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
