"""tracejit._malloc: glibc's heap keeps its top slack on import of tracejit (eager temporaries
stop paying page faults), and TRACEJIT_MALLOC_TUNING=0 leaves malloc alone."""

import os
import platform
import subprocess
import sys

import pytest

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _tuned(env: dict) -> str:
    done = subprocess.run([sys.executable, "-c", "import tracejit._malloc as m; print(m.TUNED)"],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason="malloc tuning is for glibc only")
def test_glibc_is_tuned_on_import():
    assert _tuned({}) == "True"


def test_the_user_can_opt_out():
    assert _tuned({"TRACEJIT_MALLOC_TUNING": "0"}) == "False"
