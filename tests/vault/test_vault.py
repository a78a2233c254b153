import logging
import os
import pickle
import stat
from datetime import UTC, datetime

import pytest

from server.storage.db import Database
from server.vault.crypto import DecryptError, VaultCipher, VaultKeyError, load_or_create_key_file, master_key
from server.vault.store import CredentialsIn, CredentialVault, OwnerCredentials, owner_credentials
from server.voiceprint.store import VoiceprintStore
from tests.pg import DbBackend

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3abcd"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"


def creds() -> OwnerCredentials:
    return OwnerCredentials(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        region="ap-guangzhou",
        bucket="ops-logs-1250000000",
        key_templates={"business": "biz/{date}/", "audit": "audit/{date}/"},
        cls_topics={"audit": "0f3e-topic"},
    )


@pytest.fixture
def db(db_backend: DbBackend, tmp_path) -> Database:
    return db_backend.open(tmp_path / "v.sqlite3")  # SQLite and PostgreSQL


@pytest.fixture
def vault(tmp_path, db):
    return CredentialVault(db, VaultCipher(master_key("", tmp_path / "data")))


@pytest.fixture
def owner_id(db) -> int:
    return VoiceprintStore(db, encoder=None).create_owner("alice").id


def test_round_trip_and_ciphertext_hides_the_secret(vault, db, owner_id, tmp_path) -> None:
    vault.bind(owner_id, creds())
    got = vault.get(owner_id)
    assert got.secret_key == SECRET_KEY and got.key_templates["audit"] == "audit/{date}/"
    with db.engine.connect() as conn:
        blob = conn.execute(owner_credentials.select()).first().ciphertext
    for s in (SECRET_ID, SECRET_KEY, "ap-guangzhou"):
        assert s.encode() not in blob
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("v.sqlite3*"))
    assert SECRET_KEY.encode() not in raw


def test_key_file_is_0600_and_wider_permissions_are_refused(tmp_path) -> None:
    key_path = tmp_path / "data" / "vault.key"
    key = master_key("", tmp_path / "data")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert load_or_create_key_file(key_path) == key  # reused, not regenerated
    os.chmod(key_path, 0o644)
    with pytest.raises(VaultKeyError, match="chmod 600"):
        master_key("", tmp_path / "data")


def test_wrong_key_or_moved_ciphertext_does_not_decrypt(vault, db, owner_id, tmp_path) -> None:
    vault.bind(owner_id, creds())
    other = CredentialVault(db, VaultCipher(master_key("another passphrase", tmp_path)))
    with pytest.raises(DecryptError):
        other.get(owner_id)
    bob = VoiceprintStore(db, encoder=None).create_owner("bob").id
    with db.engine.begin() as conn:
        blob = conn.execute(owner_credentials.select()).first().ciphertext
        conn.execute(
            owner_credentials.insert().values(owner_id=bob, ciphertext=blob, updated_at=datetime.now(UTC))
        )
    with pytest.raises(DecryptError):
        vault.get(bob)  # alice's ciphertext pasted onto bob's row


def test_repr_str_logs_and_pickle_never_show_secrets(vault, owner_id, caplog) -> None:
    c = creds()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("creds %s %r", c, c)
    vault.bind(owner_id, c)
    text = repr(c) + str(c) + f"{c}" + caplog.text + repr(vault) + repr(vault.cipher)
    assert "AKID****abcd" in text
    assert SECRET_ID not in text and SECRET_KEY not in text
    assert c.masked()["secret_key"] == "****MPLE"
    with pytest.raises(TypeError):
        pickle.dumps(c)


def test_input_validation_does_not_echo_secrets() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        CredentialsIn(secret_id=SECRET_ID, secret_key="Zq9vK7w", region="ap-guangzhou")
    assert "Zq9vK7w" not in str(err.value)
    with pytest.raises(ValidationError):
        CredentialsIn(secret_id=SECRET_ID, secret_key=SECRET_KEY, region="Guangzhou!")
