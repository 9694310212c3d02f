"""Writing files so that a crash never leaves half of one.

:func:`atomic_write` writes through a temporary file in the destination's folder and renames it
into place, keeping the mode of the file it replaces. Checkpoints (:mod:`arbook.checkpoint`), the
entries of the fit cache (:mod:`arbook.fitcache`) and WAV files (:func:`arbook.audio.write_wav`,
chapter "WaveNet") are written this way.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Write a file through ``write(binary_file)`` so that ``path`` never holds a partial file:
    the bytes go to a temporary file in the same folder, which is flushed to disk and renamed
    into place; on any error it is removed and the error raised. The file gets the mode of the
    file it replaces, or the ordinary mode of a new file. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            # mkstemp makes the file private (0600); give it the mode of the file it replaces,
            # or that of any new file (0666 less the umask).
            if hasattr(os, "fchmod"):  # (not on Windows)
                os.fchmod(fh.fileno(), _replaced_mode(path))
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _replaced_mode(path: Path) -> int:
    """The mode of the file at ``path``, or the ordinary mode of a new file (0666 less the
    umask) where there is none."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask
