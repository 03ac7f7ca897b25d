"""Freshness: the marts promise yesterday's numbers by a morning deadline.

The promise is a cron deadline in the group's time zone (default: every day at 06:00
America/New_York). At each deadline the marts must have been rebuilt since the midnight
before it: yesterday's business date closes out at 04:00 local time, so a build from the
previous day cannot hold yesterday's sales. Dagster's `FreshnessPolicy.cron` turns that
into a PASS / FAIL state per mart in the UI.

    TOAST_FRESHNESS_DEADLINE_CRON   "MINUTE HOUR * * *" (default "0 6 * * *")
    TOAST_SCHEDULE_TIMEZONE         IANA time zone of schedules and deadlines (default America/New_York)
"""

import os
from collections.abc import Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg
from dagster_shared.check import CheckError

from toast_assets.dbt.translator import SCHEMA_GROUPS
from toast_assets.settings import ConfigError

DEFAULT_DEADLINE_CRON = "0 6 * * *"
DEFAULT_SCHEDULE_TIMEZONE = "America/New_York"
# Kept light (no pandas): the automation schedules import this module for the time zone.
MARTS_SCHEMA = next(schema for schema, group in SCHEMA_GROUPS.items() if group == "marts")


def _setting(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or "").strip()
    return value or default


def schedule_timezone(env: Mapping[str, str] | None = None) -> str:
    """The IANA time zone schedules and deadlines run in (`TOAST_SCHEDULE_TIMEZONE`)."""
    env = os.environ if env is None else env
    name = _setting(env, "TOAST_SCHEDULE_TIMEZONE", DEFAULT_SCHEDULE_TIMEZONE)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"TOAST_SCHEDULE_TIMEZONE={name!r} is not an IANA time zone: use a name such as America/New_York or America/Chicago"
        ) from exc
    return name


def since_midnight(deadline_cron: str) -> timedelta:
    """How long before the deadline the marts may have been built: since local midnight.

    Only daily deadlines ('MINUTE HOUR * * *', days of week allowed) have a midnight before
    them; anything else is refused with a message naming the setting.
    """
    fields = deadline_cron.split()
    if len(fields) != 5 or not (fields[0].isdigit() and fields[1].isdigit()):
        raise ConfigError(
            f"TOAST_FRESHNESS_DEADLINE_CRON={deadline_cron!r}: use a daily deadline 'MINUTE HOUR * * *' "
            "(e.g. '0 6 * * *' for 06:00; days of week may be restricted: '0 6 * * 1-5')"
        )
    window = timedelta(hours=int(fields[1]), minutes=int(fields[0]))
    if not timedelta(minutes=1) <= window < timedelta(days=1):
        raise ConfigError(
            f"TOAST_FRESHNESS_DEADLINE_CRON={deadline_cron!r}: the deadline must fall after 00:01 and before midnight"
        )
    return window


def mart_freshness_policy(env: Mapping[str, str] | None = None) -> dg.FreshnessPolicy:
    """The marts' freshness policy from the environment (deadline cron and time zone)."""
    env = os.environ if env is None else env
    deadline = _setting(env, "TOAST_FRESHNESS_DEADLINE_CRON", DEFAULT_DEADLINE_CRON)
    window = since_midnight(deadline)
    timezone = schedule_timezone(env)
    try:
        return dg.FreshnessPolicy.cron(deadline_cron=deadline, lower_bound_delta=window, timezone=timezone)
    except CheckError as exc:  # dagster validates the cron string itself
        raise ConfigError(f"TOAST_FRESHNESS_DEADLINE_CRON={deadline!r} is not a valid cron deadline: {exc}") from exc


def is_mart(spec: dg.AssetSpec) -> bool:
    """True for the dbt mart models (`toast_marts/<model>`), the tables the morning promise covers."""
    return spec.key.path[0] == MARTS_SCHEMA


def with_mart_freshness(assets_def: dg.AssetsDefinition, policy: dg.FreshnessPolicy | None = None) -> dg.AssetsDefinition:
    """The dbt assets with the freshness policy on every mart spec (other models unchanged),
    without touching the dbt wiring itself."""
    policy = policy or mart_freshness_policy()
    return assets_def.map_asset_specs(lambda spec: spec.replace_attributes(freshness_policy=policy) if is_mart(spec) else spec)
