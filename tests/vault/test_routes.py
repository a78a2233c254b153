"""The owner/credential HTTP API over a real aiohttp server on localhost."""

import json
import logging

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.storage.db import Database
from server.vault.crypto import VaultCipher, master_key
from server.vault.store import CredentialVault
from server.voiceprint.audio import encode_wav
from server.voiceprint.routes import setup_owner_routes
from server.voiceprint.store import VoiceprintStore
from tests.http_auth import ADMIN, OPERATOR, guarded_app
from tests.voiceprint.conftest import SPEAKERS, enrol_clips, load

SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
BODY = {
    "secret_id": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3abcd",
    "secret_key": SECRET_KEY,
    "region": "ap-shanghai",
    "bucket": "ops-logs-1250000000",
    "key_templates": {"business": "biz/%Y%m%d/"},  # validated: kinds and directives must be real
}


@pytest.fixture(scope="module")
def encoder():
    from server.voiceprint.encoder import get_encoder

    enc = get_encoder()
    enc.warmup()
    return enc


async def make_client(
    tmp_path, encoder, *, guard: bool = True, headers: dict[str, str] | None = None
) -> tuple[TestClient, VoiceprintStore]:
    db = Database.sqlite(tmp_path / "api.sqlite3")
    db.create_all()
    store = VoiceprintStore(db, encoder)
    vault = CredentialVault(db, VaultCipher(master_key("", tmp_path)))
    size = 8 * 1024 * 1024
    app = guarded_app(client_max_size=size) if guard else web.Application(client_max_size=size)
    setup_owner_routes(app, store=store, vault=vault, admin_token="")
    client = TestClient(TestServer(app, host="127.0.0.1"), headers=ADMIN if headers is None else headers)
    await client.start_server()
    return client, store


def form(clips: list[tuple[str, bytes]]) -> aiohttp.FormData:
    f = aiohttp.FormData()
    for name, data in clips:
        f.add_field("clip", data, filename=name, content_type="audio/wav")
    return f


async def test_owner_credentials_flow_is_masked(tmp_path, encoder, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = await make_client(tmp_path, encoder)
    try:
        r = await client.post("/api/owners", json={"name": "alice", "can_approve": True})
        assert r.status == 201
        oid = (await r.json())["id"]
        assert (await client.post("/api/owners", json={"name": "alice"})).status == 409
        r = await client.put(f"/api/owners/{oid}/credentials", json=BODY)
        put_text = await r.text()
        assert r.status == 200
        r = await client.get(f"/api/owners/{oid}/credentials")
        get_text = await r.text()
        listing = await (await client.get("/api/owners")).text()
        assert json.loads(get_text)["credentials"]["secret_id"] == "AKID****abcd"
        assert json.loads(listing)["owners"][0]["credentials"]["bucket"] == "ops-logs-1250000000"
        for text in (put_text, get_text, listing, caplog.text):
            assert SECRET_KEY not in text and BODY["secret_id"] not in text
        bad = dict(BODY, secret_key="Zq9vK7w")
        r = await client.put(f"/api/owners/{oid}/credentials", json=bad)
        assert r.status == 400 and "Zq9vK7w" not in await r.text()
        assert (await client.get("/api/owners/999/credentials")).status == 404
    finally:
        await client.close()


async def test_voiceprint_upload_and_bad_uploads(tmp_path, encoder) -> None:
    client, store = await make_client(tmp_path, encoder)
    try:
        oid = (await (await client.post("/api/owners", json={"name": "bob"})).json())["id"]
        good = [(f"e{i}.wav", encode_wav(c)) for i, c in enumerate(enrol_clips("espeak_m1"))]
        r = await client.post(f"/api/owners/{oid}/voiceprint", data=form(good))
        assert r.status == 200, await r.text()
        before = store.get_owner(oid).threshold
        silence = encode_wav(np.zeros(16000, dtype=np.int16))
        other = [(f"f{i}.wav", encode_wav(c)) for i, c in enumerate(enrol_clips("espeak_f2"))]
        cases = {
            "not a WAV": [*other[:2], ("notes.wav", b"this is not audio at all")],
            "empty": [*other[:2], ("empty.wav", b"")],
            "silent": [*other[:2], ("quiet.wav", silence)],
            "at least 3": other[:2],
        }
        for expected, clips in cases.items():
            r = await client.post(f"/api/owners/{oid}/voiceprint", data=form(clips))
            assert r.status == 400
            assert expected in (await r.json())["error"]
        # nothing half-written: bob still has his m1 voiceprint and is still recognised
        assert store.get_owner(oid).threshold == before
        probe = load(SPEAKERS / "espeak_m1" / "probe_audit.wav")
        assert store.identify_pcm(probe).owner_id == oid
    finally:
        await client.close()


async def test_admin_token_is_required_from_every_address(tmp_path, encoder) -> None:
    client, _ = await make_client(tmp_path / "a", encoder, headers={})
    try:  # the client is on loopback: that earns nothing
        assert (await client.get("/api/owners")).status == 401
        assert (await client.get("/api/owners", headers={"Authorization": "Bearer wrong"})).status == 401
        assert (await client.get("/api/owners", headers=ADMIN)).status == 200
        # an operator may decline cases but not configure owners or keys
        assert (await client.post("/api/owners", json={"name": "x"}, headers=OPERATOR)).status == 403
        assert (await client.get("/api/owners/1/credentials", headers=OPERATOR)).status == 403
    finally:
        await client.close()
    # mounted without the guard middleware and without a token: closed, not open to loopback
    client, _ = await make_client(tmp_path / "b", encoder, guard=False, headers={})
    try:
        assert (await client.get("/api/owners")).status == 401
        assert (await client.post("/api/owners", json={"name": "x"})).status == 401
    finally:
        await client.close()
