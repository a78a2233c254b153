"""The MQTT device secret and the per-device credentials derived from it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from server.mqtt.credentials import CredentialIssuer, mqtt_secret


def test_secret_generated_once_0600_and_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = mqtt_secret("", tmp_path)
    assert len(first) >= 40 and mqtt_secret("", tmp_path) == first
    assert stat.S_IMODE((tmp_path / "mqtt.secret").stat().st_mode) == 0o600
    out = capsys.readouterr()
    assert first not in out.out and first not in out.err
    assert mqtt_secret("configured", tmp_path) == "configured"


def test_credentials_bind_device_and_secret() -> None:
    issuer = CredentialIssuer("s1")
    creds = issuer.issue("AA:BB:CC:DD:EE:FF", "uuid-1", "bread compact/wifi")
    assert creds.client_id == "GID_bread-compact-wifi@@@aa_bb_cc_dd_ee_ff@@@uuid-1"
    identity = issuer.verify(creds.client_id, creds.username, creds.password)
    assert identity is not None and identity.device_id == "aa:bb:cc:dd:ee:ff"
    assert (
        CredentialIssuer("s2").verify(creds.client_id, creds.username, creds.password) is None
    )  # other secret
    assert issuer.verify(creds.client_id, creds.username, None) is None
    assert issuer.verify(creds.client_id, creds.username, b"\xff\xfe") is None
    assert creds.password not in repr(creds)
    with pytest.raises(ValueError):
        issuer.issue("not-a-mac")
