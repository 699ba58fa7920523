"""What a killed run leaves behind, and the next run into that folder (issue 15).

A run killed with SIGKILL cannot remove its temporary file. Its name says which process
on which host wrote it; the next run writing into the folder removes it when that
process is gone from this host, and says how many files and bytes it reclaimed. A live
writer's file, or one from another host, stays (and is mentioned). Real processes and a
real SIGKILL; the oracles are the file system (what exists, its size) and the process
table (/proc).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_subprocess

from normcli.io import tempfiles

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".normcli-" in p.name)


def start_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    return int(raw[raw.rfind(b")") + 2 :].split()[19])


def test_a_temporary_name_says_host_pid_and_start_time(tmp_path):
    name = tempfiles.temp_name(tmp_path / "out.npy").name
    m = tempfiles._NAME.match(name)
    assert m is not None, name
    assert m["target"] == "out.npy"
    assert m["host"] == tempfiles.host_name()
    assert int(m["pid"]) == os.getpid()
    assert int(m["start"]) == start_of(os.getpid())


def _kill_mid_write(folder: Path, out_name: str, fmt_args=()) -> Path:
    """Start a normalize into ``folder`` and SIGKILL it once its temporary output holds
    data; return the temporary path it left."""
    x = np.random.default_rng(0).normal(size=(3000, 64, 32)).astype(np.float32)
    src = folder / "in.npy"
    if not src.exists():
        np.save(src, x)
    proc = subprocess.Popen(
        [sys.executable, "-m", "normcli", "normalize", src, folder / out_name, "-m", "scale",
         "--factor", "2", "--chunk-size", "64KiB", "-q", *fmt_args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    left = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            found = [p for p in folder.iterdir() if p.name.startswith(f".{out_name}.normcli-")]
            sizes = [tempfiles._bytes(p) for p in found]
            if found and max(sizes) > 1 << 20:
                left = found[0]
                break
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if left is None:
        pytest.skip("the run finished before it could be killed mid-write")
    assert proc.returncode == -signal.SIGKILL
    assert left.exists(), "SIGKILL leaves the temporary file (nothing can remove it)"
    return left


@pytest.mark.parametrize("out_name", ["out.npy", "out.h5", "out.zarr"])
def test_after_kill_9_mid_write_the_next_run_reclaims_the_dead_temp_and_says_so(tmp_path, out_name):
    if out_name.endswith(".zarr"):
        pytest.importorskip("zarr")
    left = _kill_mid_write(tmp_path, out_name)
    size = tempfiles._bytes(left)
    assert size > 1 << 20
    r = run_subprocess("normalize", tmp_path / "in.npy", tmp_path / "o2.npy", "-m", "zscore")
    assert r.returncode == 0, r.stderr
    assert not left.exists() and not left.is_symlink()
    assert temps(tmp_path) == []
    notes = [ln for ln in r.stderr.splitlines() if "killed normcli runs" in ln]
    assert len(notes) == 1, r.stderr
    assert "removed 1 temporary file " in notes[0] and str(tmp_path) in notes[0]
    assert f"{size / 2**20:,.1f} MiB reclaimed" in notes[0]
    # the second run's own result is intact
    x = np.load(tmp_path / "in.npy")
    np.testing.assert_allclose(np.load(tmp_path / "o2.npy"), (x - x.mean()) / x.std(), atol=1e-5)


def _fake(folder: Path, target: str, host: str, pid: int, start: int, body=b"x" * 100) -> Path:
    path = folder / f".{target}.normcli-{host}-{pid}-{start}-0123abcd.tmp"
    path.write_bytes(body)
    return path


def test_live_writers_other_hosts_and_reused_pids_are_told_apart(tmp_path):
    np.save(tmp_path / "in.npy", np.arange(20.0).reshape(4, 5))
    host = tempfiles.host_name()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = _fake(tmp_path, "a.npy", host, sleeper.pid, start_of(sleeper.pid))
        reused = _fake(tmp_path, "b.npy", host, sleeper.pid, start_of(sleeper.pid) - 1)
        foreign = _fake(tmp_path, "c.npy", "some-other-host", 999_999_999, 5)
        dead_proc = subprocess.Popen([sys.executable, "-c", "pass"])
        dead_proc.wait()
        dead = _fake(tmp_path, "d.npy", host, dead_proc.pid, 1, body=b"y" * 3000)
        r = run_subprocess("normalize", tmp_path / "in.npy", tmp_path / "o.npy", "-m", "minmax")
        assert r.returncode == 0, r.stderr
        assert live.exists(), "a live writer's temporary file is never touched"
        assert foreign.exists(), "nor one written on another host"
        assert not reused.exists(), "a PID now held by a later process: the writer is dead"
        assert not dead.exists()
        lines = r.stderr.splitlines()
        removed = [ln for ln in lines if "removed 2 temporary files" in ln]
        assert removed and "(3.0 KiB reclaimed)" in removed[0], r.stderr
        assert any("still running here" in ln and live.name in ln for ln in lines), r.stderr
        assert any("another host" in ln and foreign.name in ln for ln in lines), r.stderr
    finally:
        sleeper.kill()
        sleeper.wait()


def test_no_temporary_file_no_note(tmp_path, invoke):
    np.save(tmp_path / "in.npy", np.arange(20.0).reshape(4, 5))
    (tmp_path / ".notes.txt.tmp").write_text("not ours")  # a name normcli never writes
    r = invoke("normalize", tmp_path / "in.npy", tmp_path / "o.npy", "-m", "minmax")
    assert r.exit_code == 0, r.stderr
    assert "Warning" not in r.stderr and "reclaimed" not in r.stderr
    assert (tmp_path / ".notes.txt.tmp").exists()


@pytest.mark.parametrize("out_name", ["o.npy", "o.zarr", "imgs/"])
def test_fsync_flushes_the_output_and_its_folder_around_the_rename(
    tmp_path, invoke, monkeypatch, out_name
):
    if out_name.endswith(".zarr"):
        pytest.importorskip("zarr")
    x = np.random.default_rng(2).uniform(size=(3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    synced: list[tuple[str, bool]] = []
    real = tempfiles._fsync_path
    monkeypatch.setattr(
        tempfiles, "_fsync_path", lambda p, d: (synced.append((str(p), d)), real(p, d))
    )
    target = tmp_path / out_name.rstrip("/")
    r = invoke("normalize", tmp_path / "in.npy", f"{tmp_path}/{out_name}", "-m", "minmax")
    assert r.exit_code == 0, r.stderr
    assert synced == [], "no fsync without --fsync"
    args = ("normalize", tmp_path / "in.npy", f"{tmp_path}/{out_name}", "-m", "minmax", "--force")
    r = invoke(*args, "--fsync")
    assert r.exit_code == 0, r.stderr
    dirs = [p for p, d in synced if d]
    files = [p for p, d in synced if not d]
    assert dirs.count(str(tmp_path)) == 2, synced  # before and after the rename
    assert files and all(".normcli-" in p for p in files)  # the temporary, before the rename
    if target.is_dir():
        on_disk = [p for p in target.rglob("*") if p.is_file()]
        assert len(files) == len(on_disk)
    tempfiles.FSYNC = False
