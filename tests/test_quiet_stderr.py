"""C-level stderr silenced across threads without losing it, or the command's own lines."""

import os
import subprocess
import sys
import threading

from animalsnd.fileutil import c_stderr_silenced


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_rdev) == (b.st_dev, b.st_ino, b.st_rdev)


def test_overlapping_blocks_in_two_threads_restore_fd2():
    """Thread A enters, the main thread enters, A leaves first: fd 2 stays silenced until the
    last block ends, then points where it pointed before (a per-block save would restore
    /dev/null for good)."""
    before, devnull = os.fstat(2), os.stat(os.devnull)
    inside, leave, left = threading.Event(), threading.Event(), threading.Event()

    def hold():
        with c_stderr_silenced():
            inside.set()
            leave.wait(10)
        left.set()

    t = threading.Thread(target=hold)
    t.start()
    assert inside.wait(10)
    with c_stderr_silenced():
        assert _same_file(os.fstat(2), devnull)
        leave.set()
        assert left.wait(10)
        assert _same_file(os.fstat(2), devnull)
    t.join(10)
    assert _same_file(os.fstat(2), before)


SCRIPT = r"""
import os, threading
from animalsnd.cli import _own_stderr
_own_stderr()
from animalsnd.cli._app import warn
from animalsnd.fileutil import c_stderr_silenced

inside, done = threading.Event(), threading.Event()

def load_model():  # what a background model load does while the first files are read
    with c_stderr_silenced():
        inside.set()
        done.wait(10)

t = threading.Thread(target=load_model)
t.start()
inside.wait(10)
os.write(2, b"a C-level library note\n")
warn("skipped call.m4a: a warning printed while the model loads")
done.set()
t.join()
"""


def test_the_commands_warnings_survive_a_background_thread_silencing_fd2():
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "skipped call.m4a: a warning printed while the model loads" in res.stderr
    assert "C-level library note" not in res.stderr
