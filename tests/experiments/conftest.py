import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_cli(module: str, *args: str, check: bool = True, timeout: float = 300, env=None):
    """Run an entrypoint as a user would (a fresh process), from a scratch directory."""
    proc = subprocess.run([sys.executable, "-m", f"experiments.{module}", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{module} {args} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture
def cli():
    return run_cli
