"""Retries for network steps: exponential backoff with jitter, in two layers.

A night's delivery should not be lost to a dropped connection or a server restarting for a
minute. Two layers, both driven by the same `TOAST_*` settings:

- inside a step, `call_with_retries` retries one network call (opening the SFTP connection)
  a few times with short, growing, jittered waits; errors that no wait can fix (an unknown
  host key, a refused key, a bad setting) are raised at once;
- around the step, `step_retry_policy` is the Dagster `RetryPolicy` of the landing step: when
  the connection stays down longer, or breaks in the middle of the downloads, Dagster runs
  the step again after a longer exponential, jittered delay, and the UI shows each attempt.

Jitter spreads the retries of several runs or code servers so they do not hit a recovering
server in lockstep.

    TOAST_NETWORK_RETRY_ATTEMPTS       tries of one network call, first included (default 3)
    TOAST_NETWORK_RETRY_BASE_SECONDS   wait before the second try, doubled each time (default 2)
    TOAST_NETWORK_RETRY_MAX_SECONDS    longest single wait (default 30)
    TOAST_STEP_RETRIES                 extra attempts of a failed landing step (default 3)
    TOAST_STEP_RETRY_DELAY_SECONDS     base delay of the step retries (default 30; Dagster waits
                                       about 1x, 3x, 7x of it, plus or minus one base delay)
"""

import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import dagster as dg

from toast_assets.settings import ConfigError

T = TypeVar("T")

logger = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 3
DEFAULT_BASE_SECONDS = 2.0
DEFAULT_MAX_SECONDS = 30.0
DEFAULT_STEP_RETRIES = 3
DEFAULT_STEP_RETRY_DELAY_SECONDS = 30.0


@dataclass(frozen=True)
class Backoff:
    """How often and how patiently one network call is retried.

    `attempts` counts every try, the first included. The wait before try n+1 is
    `base_seconds * 2**(n-1)`, capped at `max_seconds`, then moved by up to `jitter` of itself
    either way.
    """

    attempts: int = DEFAULT_ATTEMPTS
    base_seconds: float = DEFAULT_BASE_SECONDS
    max_seconds: float = DEFAULT_MAX_SECONDS
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"a backoff needs at least one attempt, got {self.attempts}")
        if self.base_seconds < 0 or self.max_seconds < 0:
            raise ValueError("backoff waits cannot be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter is a share of the wait between 0 and 1, got {self.jitter}")

    def wait(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (1 = the second try)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        nominal = min(self.base_seconds * 2 ** (retry - 1), self.max_seconds)
        return max(0.0, nominal * (1 + self.jitter * (2 * rng() - 1)))

    def budget(self) -> float:
        """The longest total wait of a call that fails every try (jitter at its maximum)."""
        return sum(
            min(self.base_seconds * 2 ** (retry - 1), self.max_seconds) * (1 + self.jitter)
            for retry in range(1, self.attempts)
        )


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    backoff: Backoff,
    is_transient: Callable[[BaseException], bool],
    on_retry: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    """Run `call`; on a transient error wait (exponential, jittered) and try again.

    Non-transient errors and the error of the last try are raised unchanged, so the operator
    sees the real cause. `on_retry` receives a message for the run's log before each wait.
    """
    for attempt in range(1, backoff.attempts + 1):
        try:
            return call()
        except Exception as exc:
            if attempt >= backoff.attempts or not is_transient(exc):
                raise
            wait = backoff.wait(attempt, rng)
            message = (
                f"{what} failed (try {attempt} of {backoff.attempts}): {exc}; "
                f"trying again in {wait:.1f}s"
            )
            (on_retry or logger.warning)(message)
            sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


def _setting(env: Mapping[str, str], name: str, default: float, cast: type = float, minimum: float = 0) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def network_backoff(env: Mapping[str, str] | None = None) -> Backoff:
    """The in-step backoff for one network call, from `TOAST_NETWORK_RETRY_*`."""
    env = os.environ if env is None else env
    return Backoff(
        attempts=int(_setting(env, "TOAST_NETWORK_RETRY_ATTEMPTS", DEFAULT_ATTEMPTS, int, minimum=1)),
        base_seconds=_setting(env, "TOAST_NETWORK_RETRY_BASE_SECONDS", DEFAULT_BASE_SECONDS),
        max_seconds=_setting(env, "TOAST_NETWORK_RETRY_MAX_SECONDS", DEFAULT_MAX_SECONDS),
    )


def step_retry_policy(env: Mapping[str, str] | None = None) -> dg.RetryPolicy:
    """Dagster's retry policy for network steps, from `TOAST_STEP_RETRIES` and
    `TOAST_STEP_RETRY_DELAY_SECONDS`: exponential backoff with plus-or-minus jitter."""
    env = os.environ if env is None else env
    retries = int(_setting(env, "TOAST_STEP_RETRIES", DEFAULT_STEP_RETRIES, int))
    delay = _setting(env, "TOAST_STEP_RETRY_DELAY_SECONDS", DEFAULT_STEP_RETRY_DELAY_SECONDS)
    return dg.RetryPolicy(max_retries=retries, delay=delay, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
