"""Configuration is validated at load time and every message names the setting to fix."""

from pathlib import Path

import pytest

from toast_assets.settings import ConfigError, load_config


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "id_ed25519"
    key.write_text("not read at load time")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    return {
        "TOAST_SFTP_HOST": "sftp.example.test",
        "TOAST_SFTP_USERNAME": "group",
        "TOAST_SFTP_PRIVATE_KEY_PATH": str(key),
        "TOAST_SFTP_KNOWN_HOSTS": str(known_hosts),
        "TOAST_LAKE_URL": str(tmp_path / "lake"),
        "TOAST_DUCKDB_PATH": str(tmp_path / "toast.duckdb"),
    }


def test_complete_environment_loads(env: dict[str, str], tmp_path: Path) -> None:
    config = load_config({**env, "TOAST_EXPORT_IDS": "185129, 185130", "TOAST_SFTP_PORT": "2222"})
    assert config.sftp.port == 2222 and config.sftp.root == "/"
    assert config.export_ids == ("185129", "185130")
    assert config.lake_url == str((tmp_path / "lake").resolve())
    assert config.warehouse == "duckdb"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"TOAST_SFTP_HOST": ""}, "TOAST_SFTP_HOST"),
        ({"TOAST_SFTP_USERNAME": ""}, "TOAST_SFTP_USERNAME"),
        ({"TOAST_SFTP_PORT": "twenty-two"}, "TOAST_SFTP_PORT"),
        ({"TOAST_SFTP_PORT": "70000"}, "TOAST_SFTP_PORT"),
        ({"TOAST_SFTP_PRIVATE_KEY_PATH": "/nonexistent/key"}, "TOAST_SFTP_PRIVATE_KEY_PATH"),
        ({"TOAST_SFTP_PRIVATE_KEY_PATH": ""}, "TOAST_SFTP_PRIVATE_KEY"),
        ({"TOAST_SFTP_KNOWN_HOSTS": ""}, "TOAST_SFTP_KNOWN_HOSTS"),
        ({"TOAST_SFTP_KNOWN_HOSTS": "", "TOAST_SFTP_HOST_KEY_FINGERPRINT": "md5:aa"}, "TOAST_SFTP_HOST_KEY_FINGERPRINT"),
        ({"TOAST_EXPORT_IDS": "185129,main-street"}, "TOAST_EXPORT_IDS"),
        ({"TOAST_WAREHOUSE": "snowflake"}, "TOAST_WAREHOUSE"),
        ({"TOAST_SFTP_READ_TIMEOUT": "-1"}, "TOAST_SFTP_READ_TIMEOUT"),
    ],
)
def test_bad_or_missing_setting_is_named(env: dict[str, str], change: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config({**env, **change})


def test_key_text_and_pinned_fingerprint_are_enough(env: dict[str, str]) -> None:
    env = {**env, "TOAST_SFTP_PRIVATE_KEY_PATH": "", "TOAST_SFTP_PRIVATE_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----",
           "TOAST_SFTP_KNOWN_HOSTS": "", "TOAST_SFTP_HOST_KEY_FINGERPRINT": "SHA256:abc"}
    config = load_config(env)
    assert config.sftp.has_private_key_text and config.sftp.private_key_path is None
    assert config.sftp.host_key_fingerprint == "SHA256:abc"
