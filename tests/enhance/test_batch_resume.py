"""Batches that survive kills and each other. `wbs enhance DIR`, killed with SIGKILL at ten seeded random
points and run again, ends with the same outputs and manifest, byte for byte, as an uninterrupted run,
and no temporary file; two batches into one folder (two processes, two models) wait for each other and
list every output exactly once; the derived DICOM passes dciodvfy.

The batches run in forked processes (`os.fork`, then `wbslib.cli.main`): the same code as the `wbs`
command, without paying for the interpreter and torch start-up ten times.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import filelock
import numpy as np
from fixtures_batch import write_studies
from fixtures_dicom import dciodvfy_errors
from fixtures_infer import tiny_checkpoint

from wbslib.cli import main
from wbslib.core.fileio import sha256_file
from wbslib.enhance.batch import read_enhanced_manifest

N = 8
SHAPE = (2, 64, 32)
KILLS = 10


def _fresh_tqdm_locks() -> None:
    """New tqdm write locks in a forked child: a lock some parent thread held at fork time (e.g.
    tqdm's monitor, from an earlier test) would otherwise stay held forever in the child."""
    import multiprocessing
    import threading

    from tqdm import std

    std.TqdmDefaultWriteLock.th_lock = threading.RLock()
    std.TqdmDefaultWriteLock.mp_lock = multiprocessing.RLock()
    std.tqdm._lock = std.TqdmDefaultWriteLock()


def _start(argv: list[str], log: Path | None = None) -> int:
    """pid of a forked process running `wbs <argv>` with stdout and stderr to `log` (default: nowhere)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            _fresh_tqdm_locks()
            fd = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            sys.stdout = sys.stderr = open(fd, "w", buffering=1)  # not pytest's capture
            code = main(argv)
        finally:
            os._exit(code)
    return pid


def _exit_code(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _listed(out: Path) -> int:
    return len(read_enhanced_manifest(out))


def _files(out: Path) -> dict[str, str]:
    """sha256 of every file under `out` but the lock file, by relative path."""
    return {
        str(p.relative_to(out)): sha256_file(p)
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != ".wbs-batch.lock"
    }


def test_killed_batch_resumes_to_the_same_bytes(tmp_path):
    folder, out = tmp_path / "studies", tmp_path / "out"
    write_studies(folder, N, SHAPE)
    argv = ["enhance", str(folder), "--model", str(tiny_checkpoint(tmp_path / "simu-2x.pt")), "--out", str(out)]
    argv += ["--device", "cpu"]
    start = time.perf_counter()
    assert _exit_code(_start(argv)) == 0
    per_study = (time.perf_counter() - start) / N
    uninterrupted = _files(out)
    assert len(uninterrupted) == N + 1  # the outputs and manifest.csv
    shutil.rmtree(out)
    rng, listed_after_kill = np.random.default_rng(15), []
    for _ in range(KILLS):
        target = min(_listed(out) + int(rng.integers(0, 2)), N - 1)
        pid, deadline = _start(argv), time.monotonic() + 120
        while _listed(out) < target and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, per_study))  # somewhere inside the next study, or its listing
        os.kill(pid, signal.SIGKILL)
        assert _exit_code(pid) in (-signal.SIGKILL, 0)
        listed_after_kill.append(_listed(out))
    assert any(0 < n < N for n in listed_after_kill), listed_after_kill  # kills landed mid-batch
    assert _exit_code(_start(argv)) == 0
    assert _files(out) == uninterrupted
    assert not list(out.rglob("*.tmp"))


def test_two_batches_into_one_folder_list_every_output_once(tmp_path):
    folder, out = tmp_path / "studies", tmp_path / "out"
    write_studies(folder, 4, SHAPE)
    models = (tiny_checkpoint(tmp_path / "simu-2x.pt"), tiny_checkpoint(tmp_path / "real-2x.pt", mode="real", seed=1))
    logs = (tmp_path / "simu.log", tmp_path / "real.log")
    out.mkdir()
    held = filelock.FileLock(out / ".wbs-batch.lock")
    held.acquire()  # both batches start while a third writer holds the folder, so they must wait
    pids = [
        _start(["enhance", str(folder), "--model", str(m), "--out", str(out), "--device", "cpu"], log)
        for m, log in zip(models, logs)
    ]
    deadline = time.monotonic() + 120
    while not all(log.exists() and "waiting for it to finish" in log.read_text() for log in logs):
        assert time.monotonic() < deadline, [log.read_text() for log in logs if log.exists()]
        time.sleep(0.01)
    held.release()
    assert [_exit_code(pid) for pid in pids] == [0, 0], [log.read_text() for log in logs]
    listed = read_enhanced_manifest(out)
    assert len(listed) == 8 and listed["path"].is_unique
    assert sorted(listed["group"]) == ["2x-real"] * 4 + ["2x-simu"] * 4
    assert sorted(str(p) for p in out.rglob("*.dcm")) == sorted(listed["path"])
    assert all(sha256_file(row.path) == row.sha256 for row in listed.itertuples())
    for group in ("2x-real", "2x-simu"):
        assert dciodvfy_errors(next((out / group).glob("*.dcm"))) == []
