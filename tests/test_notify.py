"""The notifier against a real local HTTP server: delivery, retries, log-only mode, and a
webhook URL that never shows up in a log line or an error."""

import logging

import dagster as dg
import pytest

import toast_assets.notify.resources as notify
from servers import free_port, webhook_server
from toast_assets.lib.retry import Backoff
from toast_assets.notify import Alert, NotifyError, ToastNotifier, build_notifier
from toast_assets.settings import ConfigError

ALERT = Alert(
    title="Toast pipeline run FAILED for 2026-10-02",
    lines=["Business date(s): 2026-10-02", "Locations: 185129, 185130"],
    link="http://127.0.0.1:3000/runs/abc",
)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "POST_BACKOFF", Backoff(attempts=3, base_seconds=0.05, max_seconds=0.1))


def test_posts_a_slack_compatible_message(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with webhook_server() as webhook:
        assert ToastNotifier(webhook_url=webhook.url).send(ALERT) is True
        assert len(webhook.received) == 1
        body = webhook.received[0]
        assert set(body) == {"text"}
        assert body["text"].splitlines() == [
            "*Toast pipeline run FAILED for 2026-10-02*",
            "Business date(s): 2026-10-02",
            "Locations: 185129, 185130",
            "Open in Dagster: http://127.0.0.1:3000/runs/abc",
        ]
        assert "secret-token" not in caplog.text and webhook.url not in caplog.text
        assert "alert posted to the webhook" in caplog.text


def test_retries_server_errors_then_delivers() -> None:
    with webhook_server() as webhook:
        webhook.fail_next = 2
        assert ToastNotifier(webhook_url=webhook.url).send(ALERT)
        assert len(webhook.received) == 1


def test_a_revoked_webhook_fails_at_once_without_naming_the_url(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with webhook_server() as webhook:
        webhook.fail_next, webhook.status_for_failures = 5, 404
        with pytest.raises(NotifyError) as raised:
            ToastNotifier(webhook_url=webhook.url).send(ALERT)
        assert webhook.fail_next == 4, "a 404 is not retried"
    message = str(raised.value)
    assert "HTTP 404" in message and "TOAST_ALERT_WEBHOOK_URL" in message
    assert "secret-token" not in message and "127.0.0.1" not in message
    assert "secret-token" not in caplog.text


def test_an_unreachable_webhook_is_retried_then_reported_without_the_url(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{free_port()}/hooks/secret-token"
    with pytest.raises(NotifyError) as raised:
        ToastNotifier(webhook_url=url, timeout_seconds=2).send(ALERT)
    assert "could not be reached" in str(raised.value)
    assert "secret-token" not in str(raised.value) and "secret-token" not in caplog.text
    assert caplog.text.count("trying again") == 2


def test_without_a_webhook_alerts_are_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert ToastNotifier().send(ALERT) is False
    assert "no TOAST_ALERT_WEBHOOK_URL set" in caplog.text and "Locations: 185129, 185130" in caplog.text


def test_long_digests_are_cut_with_a_pointer_to_the_ui() -> None:
    text = Alert("digest", [f"• WARN check {i}: " + "x" * 80 for i in range(200)], link="http://ui/runs/1").text()
    assert len(text) <= notify.MAX_TEXT_CHARS
    assert text.endswith("(cut; the full list is in Dagster: http://ui/runs/1)")


def test_built_from_the_environment_with_the_url_kept_as_a_reference() -> None:
    notifier = build_notifier({"TOAST_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/secret", "TOAST_DAGSTER_URL": "https://dagster.example.com/"})
    assert isinstance(notifier.webhook_url, dg.EnvVar)
    assert notifier.run_url("r1") == "https://dagster.example.com/runs/r1"
    unset = build_notifier({})
    assert unset.webhook_url is None and not unset.delivers and unset.run_url("r1") == "http://127.0.0.1:3000/runs/r1"
    with pytest.raises(ConfigError) as raised:
        build_notifier({"TOAST_ALERT_WEBHOOK_URL": "hooks.slack.com/services/secret"})
    assert "secret" not in str(raised.value).replace("TOAST_ALERT_WEBHOOK_URL", "")
    with pytest.raises(ConfigError, match="TOAST_DAGSTER_URL"):
        build_notifier({"TOAST_DAGSTER_URL": "dagster:3000"})


def test_the_notifier_resource_reads_the_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with webhook_server() as webhook:
        monkeypatch.setenv("TOAST_ALERT_WEBHOOK_URL", webhook.url)

        @dg.asset
        def alerting(notifier: ToastNotifier) -> None:
            notifier.send(Alert("from a run", ["Business date(s): 2026-10-02"]))

        assert dg.materialize([alerting], resources={"notifier": build_notifier()}).success
        assert webhook.texts() == ["*from a run*\nBusiness date(s): 2026-10-02"]
