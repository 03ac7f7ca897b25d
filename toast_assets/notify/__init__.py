"""Alerts for the team: failed runs and check problems, through a webhook or the log."""

from toast_assets.notify.resources import Alert, NotifyError, ToastNotifier, build_notifier

__all__ = ["Alert", "NotifyError", "ToastNotifier", "build_notifier"]
