"""Shared test setup: quiet dbt, no GCE metadata probing, and the SFTP fixtures."""

import os
import signal

# A suite started in the background by a non-interactive shell (`make test &`) inherits SIGINT
# ignored, and Dagster's interrupt capture around every in-process run then maps SIGTERM to
# that: SIGTERM stays ignored in this process and in every child started afterwards. Dagster
# stops its compute-log `tail -F` children with SIGTERM and waits 30 s for each, so a run in a
# thread took over a minute. Start from the default dispositions.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# google-auth skips the metadata-server probe only for the exact lowercase value "true".
if os.environ.get("NO_GCE_CHECK", "true").lower() == "true":
    os.environ["NO_GCE_CHECK"] = "true"
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

pytest_plugins = ["sftp_fixtures", "gcs_emulator", "bq_emulator"]
