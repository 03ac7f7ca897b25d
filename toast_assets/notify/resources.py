"""How the team hears about the pipeline: a Slack-compatible incoming webhook, or the log.

`TOAST_ALERT_WEBHOOK_URL` is an incoming-webhook URL (Slack, Mattermost, Rocket.Chat and
others accept the same `{"text": ...}` body). Unset, alerts are written to the log only, so
the embedded default and the tests need no chat account. The URL carries its own secret: it
is kept as an environment reference in the resource config and never appears in a log line,
an error message or metadata.

    TOAST_ALERT_WEBHOOK_URL   incoming webhook URL (optional)
    TOAST_DAGSTER_URL         base URL of the Dagster UI for run links (default http://127.0.0.1:3000)
"""

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import dagster as dg

from toast_assets.lib.retry import Backoff, call_with_retries
from toast_assets.settings import ConfigError

logger = logging.getLogger(__name__)

ENV_WEBHOOK_URL = "TOAST_ALERT_WEBHOOK_URL"
ENV_DAGSTER_URL = "TOAST_DAGSTER_URL"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
# Slack truncates long messages; a digest longer than this is cut with a pointer to the UI.
MAX_TEXT_CHARS = 3500
POST_BACKOFF = Backoff(attempts=3, base_seconds=1.0, max_seconds=5.0)


class NotifyError(Exception):
    """The alert could not be delivered to the webhook (the message never names its URL)."""


class _Transient(NotifyError):
    """A delivery failure worth another try: no answer, a timeout, HTTP 429 or 5xx."""


@dataclass(frozen=True)
class Alert:
    """One message for the team: a headline, a few lines of facts, and where to look."""

    title: str
    lines: Sequence[str] = ()
    link: str | None = None

    def text(self) -> str:
        body = "\n".join([f"*{self.title}*", *self.lines, *([f"Open in Dagster: {self.link}"] if self.link else [])])
        if len(body) <= MAX_TEXT_CHARS:
            return body
        tail = f"\n… (cut; the full list is in Dagster: {self.link})" if self.link else "\n… (cut)"
        return body[: MAX_TEXT_CHARS - len(tail)] + tail


class ToastNotifier(dg.ConfigurableResource):
    """Posts alerts to the team's incoming webhook; writes them to the log when none is set."""

    webhook_url: str | None = None
    dagster_url: str = DEFAULT_DAGSTER_URL
    timeout_seconds: float = 10.0

    def run_url(self, run_id: str) -> str:
        """Link to a run in the Dagster UI."""
        return f"{self.dagster_url.rstrip('/')}/runs/{run_id}"

    @property
    def delivers(self) -> bool:
        """True when alerts go to a webhook, false when they only reach the log."""
        return bool(self.webhook_url)

    def send(self, alert: Alert) -> bool:
        """Deliver the alert; returns True when a webhook accepted it, False when only logged.

        Raises NotifyError when the webhook keeps refusing it, so the sensor's tick fails,
        shows red in the UI, and the same alert is tried again on the next tick.
        """
        text = alert.text()
        if not self.webhook_url:
            logger.warning("alert (no %s set, so only logged): %s", ENV_WEBHOOK_URL, text)
            return False
        call_with_retries(
            lambda: self._post({"text": text}),
            what="posting the alert to the webhook",
            backoff=POST_BACKOFF,
            is_transient=lambda error: isinstance(error, _Transient),
            on_retry=logger.warning,
        )
        logger.info("alert posted to the webhook (%s): %s", ENV_WEBHOOK_URL, alert.title)
        return True

    def _post(self, payload: Mapping[str, object]) -> None:
        request = urllib.request.Request(
            self.webhook_url or "",
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            # HTTPError's text holds only the status, but its attributes hold the URL: build our own.
            kind = _Transient if exc.code == 429 or exc.code >= 500 else NotifyError
            hint = "" if kind is _Transient else f"; check {ENV_WEBHOOK_URL} (the webhook may have been revoked)"
            raise kind(f"the alert webhook answered HTTP {exc.code} {exc.reason}{hint}") from None
        except urllib.error.URLError as exc:
            raise _Transient(f"the alert webhook could not be reached: {_reason(exc.reason)}") from None
        except (TimeoutError, ConnectionError) as exc:
            raise _Transient(f"the alert webhook did not answer: {_reason(exc)}") from None


def _reason(reason: object) -> str:
    """An error's cause without any URL in it (socket errors name no URL; belt and braces)."""
    text = str(getattr(reason, "strerror", None) or reason)
    return " ".join(word for word in text.split() if "://" not in word) or type(reason).__name__


def build_notifier(env: Mapping[str, str] | None = None) -> ToastNotifier:
    """The notifier from the environment, checked when the code location loads."""
    env = os.environ if env is None else env
    dagster_url = (env.get(ENV_DAGSTER_URL) or "").strip() or DEFAULT_DAGSTER_URL
    if urlsplit(dagster_url).scheme not in ("http", "https") or not urlsplit(dagster_url).netloc:
        raise ConfigError(f"{ENV_DAGSTER_URL}={dagster_url!r} is not an http(s) URL of the Dagster UI (e.g. https://dagster.example.com)")
    webhook = (env.get(ENV_WEBHOOK_URL) or "").strip()
    if webhook and (urlsplit(webhook).scheme not in ("http", "https") or not urlsplit(webhook).netloc):
        # The value itself is a secret: the message describes it without repeating it.
        raise ConfigError(f"{ENV_WEBHOOK_URL} is set but is not an http(s) URL; paste the incoming-webhook URL your chat tool gave you")
    return ToastNotifier(
        # An environment reference, so the URL is read inside the process and never shown in the UI.
        webhook_url=dg.EnvVar(ENV_WEBHOOK_URL) if webhook else None,
        dagster_url=dagster_url,
    )
