"""The emulator process: READY line, exit when stdin closes."""

import subprocess
import urllib.request

from conftest import start_emulator, stop_emulator


def test_ready_and_exit_on_stdin_close():
    proc, url = start_emulator(log_name="lifecycle")
    try:
        with urllib.request.urlopen(url + "/_xapi/health", timeout=5) as resp:
            assert resp.status == 200
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
    except subprocess.TimeoutExpired:
        stop_emulator(proc)
        raise
