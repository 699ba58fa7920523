"""Temporary outputs: names that say who writes them, the leftovers of killed runs, and
``--fsync``.

Every output is written to a hidden temporary path beside OUTPUT and renamed into place
when complete. A run killed outright (``kill -9``, the OOM killer, a batch scheduler
after its grace period) cannot remove its temporary file, so the name carries what
identifies its writer: ``.out.npy.normcli-HOST-PID-START-TOKEN.tmp``, with the host
name, the process id and the process's start time (clock ticks since boot, from
``/proc``; 0 where the system does not say), so that a reused PID does not pass for the
writer.

:func:`reclaim` looks at the temporary files in a folder before a run writes into it:
one whose writer was on this host and is gone (no such process, or a process with that
PID that started at another time) is removed, and the run says how many files and bytes
it reclaimed. A live writer's file is never touched, nor one written from another host
(a shared filesystem: its writer may be alive there); those are only mentioned.

``--fsync`` (:data:`FSYNC`): the finished file (every file of a folder or store) and its
directory are flushed to disk before the rename, and the directory again after it, so a
finished OUTPUT survives a power cut. Without it the rename is atomic against the
process failing, not against the machine losing power.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

#: Flush OUTPUT and its folder to disk around the rename (the CLI's --fsync).
FSYNC = False

_NAME = re.compile(
    r"^\.(?P<target>.+)\.normcli-(?P<host>[A-Za-z0-9_.-]+?)-(?P<pid>\d+)-(?P<start>\d+)"
    r"-(?P<token>[0-9a-f]{8})\.tmp$"
)
#: Names of earlier versions (a random token only) and of a store set aside while a new
#: one is renamed into place: their writer is unknown, so they are only mentioned.
_OLD = re.compile(r"^\..+\.normcli-(?:[0-9a-f]{8}\.tmp|old-\d+)$")


def host_name() -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname() or "localhost")
    return name[:64] or "localhost"


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), None if there is no such
    process; 0 when the system does not say (not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return None if Path("/proc/self/stat").exists() else _exists(pid)
    except OSError:
        return 0
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    rest = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(rest[19])  # field 22, starttime
    except (IndexError, ValueError):
        return 0


def _exists(pid: int) -> int | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        return 0
    return 0


def temp_name(target: Path) -> Path:
    """A fresh hidden path beside ``target`` naming this process as its writer."""
    start = process_start(os.getpid()) or 0
    token = secrets.token_hex(4)
    return target.with_name(
        f".{target.name}.normcli-{host_name()}-{os.getpid()}-{start}-{token}.tmp"
    )


@dataclass
class Leftovers:
    """What :func:`reclaim` found in a folder."""

    removed: list[str] = field(default_factory=list)
    bytes_removed: int = 0
    live: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def notes(self, folder: Path) -> list[str]:
        out = []
        if self.removed:
            n = len(self.removed)
            out.append(
                f"removed {n} temporary file{'s' if n > 1 else ''} of killed normcli runs "
                f"from {folder} ({_size(self.bytes_removed)} reclaimed)"
            )
        if self.live:
            out.append(
                f"{folder} holds {len(self.live)} temporary file(s) of normcli runs still "
                f"running here, left alone: {', '.join(self.live[:3])}"
            )
        if self.foreign:
            out.append(
                f"{folder} holds {len(self.foreign)} temporary file(s) written by normcli on "
                f"another host, left alone (remove them once that run is over): "
                f"{', '.join(self.foreign[:3])}"
            )
        if self.unknown:
            out.append(
                f"{folder} holds {len(self.unknown)} temporary file(s) of an unknown normcli "
                f"run (an older version), left alone: {', '.join(self.unknown[:3])}"
            )
        return out


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def _bytes(path: Path) -> int:
    try:
        if path.is_symlink() or not path.is_dir():
            return path.lstat().st_size
        total = 0
        for dirpath, _dirnames, filenames in os.walk(path):
            for name in filenames:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_size
        return total
    except OSError:
        return 0


def writer_state(name: str, host: str | None = None) -> str | None:
    """``dead``, ``live``, ``foreign`` (another host) or ``unknown`` for a temporary
    name of normcli's; None for any other name."""
    m = _NAME.match(name)
    if m is None:
        return "unknown" if _OLD.match(name) else None
    if m["host"] != (host or host_name()):
        return "foreign"
    pid, start = int(m["pid"]), int(m["start"])
    if pid == os.getpid():
        return "live"  # this very run (a writer already open)
    now = process_start(pid)
    if now is None:
        return "dead"
    if start and now and now != start:
        return "dead"  # the PID was reused by a process that started later
    return "live"


def reclaim(folder: Path) -> Leftovers:
    """Remove the temporary outputs in ``folder`` whose writer is dead on this host."""
    found = Leftovers()
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return found
    host = host_name()
    for name in names:
        if not name.startswith("."):
            continue
        state = writer_state(name, host)
        if state is None:
            continue
        if state == "dead":
            path = Path(folder, name)
            size = _bytes(path)
            _remove(path)
            if not path.exists() and not path.is_symlink():
                found.removed.append(name)
                found.bytes_removed += size
        else:
            getattr(found, state).append(name)
    return found


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except OSError:
        pass


def reclaim_beside(target) -> list[str]:
    """:func:`reclaim` in OUTPUT's folder; the notes to print."""
    folder = Path(target).parent
    return reclaim(folder).notes(folder)


# -- --fsync -----------------------------------------------------------------------------------


def _fsync_path(path: str, directory: bool) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a directory
    finally:
        os.close(fd)


def sync_tree(path: Path) -> None:
    """Flush ``path`` (a file, or every file and directory of a folder) to disk."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        for dirpath, _dirnames, filenames in os.walk(path):
            for name in filenames:
                _fsync_path(os.path.join(dirpath, name), False)
            _fsync_path(dirpath, True)
    else:
        _fsync_path(str(path), False)


def before_rename(tmp: Path) -> None:
    """With --fsync: the finished temporary output and its folder, on disk."""
    if FSYNC:
        sync_tree(tmp)
        _fsync_path(str(Path(tmp).parent), True)


def after_rename(target: Path) -> None:
    """With --fsync: the rename itself, on disk (the folder's entry)."""
    if FSYNC:
        _fsync_path(str(Path(target).parent), True)
