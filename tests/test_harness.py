"""The test processes themselves: a run in process leaves children able to receive SIGTERM.

Without conftest's reset, a suite started in the background (SIGINT ignored) ends every
in-process Dagster run with SIGTERM ignored, and each later run's compute-log capture waits
for `tail -F` children that ignore it. This asserts the disposition a child process sees.
"""

import signal
import subprocess

import dagster as dg


def _ignored_by_a_child() -> int:
    status = subprocess.run(["grep", "SigIgn", "/proc/self/status"], capture_output=True, text=True, check=True).stdout
    return int(status.split()[1], 16)


def test_a_run_in_process_leaves_sigterm_deliverable_to_children() -> None:
    @dg.asset
    def one() -> int:
        return 1

    assert dg.materialize([one]).success
    assert signal.getsignal(signal.SIGTERM) != signal.SIG_IGN
    assert not _ignored_by_a_child() & (1 << (signal.SIGTERM - 1)), "a child would ignore SIGTERM"
