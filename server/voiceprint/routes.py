"""HTTP: owners and voiceprint uploads (plus the credential routes from server.vault.routes).

POST /api/owners                      {"name": ..., "can_approve": false}      -> 201 owner
GET  /api/owners                      owners with masked credentials
POST /api/owners/{id}/voiceprint      multipart, ≥3 WAV files                  -> threshold
PUT/GET /api/owners/{id}/credentials  see server.vault.routes
All need the CONFIGURE permission (the admin token; no address is trusted). The app's client_max_size must allow the uploads
(aiohttp's default is 1 MiB; 3 clips of 5 s at 16 kHz are ~0.5 MB).
"""

from __future__ import annotations

import asyncio
import json

import numpy as np
from aiohttp import BodyPartReader, web

from server.vault.auth import admin_only
from server.vault.routes import setup_credential_routes
from server.vault.store import CredentialVault
from server.voiceprint.audio import AudioError, decode_wav
from server.voiceprint.scoring import MIN_CLIPS
from server.voiceprint.store import OwnerError, VoiceprintStore

MAX_CLIPS = 10
MAX_CLIP_BYTES = 2 * 1024 * 1024


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


def setup_owner_routes(
    app: web.Application, *, store: VoiceprintStore, vault: CredentialVault, admin_token: str
) -> None:
    guard = admin_only(admin_token)

    @guard
    async def create_owner(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _bad("body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return _bad('body must be {"name": "...", "can_approve": false}')
        try:
            owner = store.create_owner(body["name"], can_approve=bool(body.get("can_approve", False)))
        except OwnerError as exc:
            return _bad(str(exc), 409 if "exists" in str(exc) else 400)
        return web.json_response(owner.public(), status=201)

    @guard
    async def list_owners(_request: web.Request) -> web.Response:
        out = []
        for owner in store.list_owners():
            item = owner.public()
            item["credentials"] = vault.masked(owner.id)
            out.append(item)
        return web.json_response({"owners": out})

    @guard
    async def upload_voiceprint(request: web.Request) -> web.Response:
        try:
            owner = store.get_owner(int(request.match_info["owner_id"]))
        except (OwnerError, ValueError):
            return _bad("unknown owner", 404)
        if not request.content_type.startswith("multipart/"):
            return _bad(f"upload {MIN_CLIPS}+ WAV files as multipart/form-data")
        clips: list[np.ndarray] = []
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader) or not part.filename:
                    continue  # ignore non-file form fields
                if len(clips) >= MAX_CLIPS:
                    return _bad(f"at most {MAX_CLIPS} clips per upload")
                data = await part.read()
                if len(data) > MAX_CLIP_BYTES:
                    return _bad(f"{part.filename}: larger than {MAX_CLIP_BYTES // (1024 * 1024)} MiB")
                clips.append(decode_wav(bytes(data), part.filename))
        except AudioError as exc:
            return _bad(str(exc))
        except ValueError as exc:  # malformed multipart body
            return _bad(f"malformed multipart upload: {exc}")
        if len(clips) < MIN_CLIPS:
            return _bad(f"need at least {MIN_CLIPS} WAV clips, got {len(clips)}")
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, store.enrol, owner.id, clips)
        except AudioError as exc:
            return _bad(str(exc))
        return web.json_response(
            {"owner_id": owner.id, "n_samples": result.n_samples, "threshold": result.threshold}
        )

    app.router.add_post("/api/owners", create_owner)
    app.router.add_get("/api/owners", list_owners)
    app.router.add_post("/api/owners/{owner_id}/voiceprint", upload_voiceprint)
    setup_credential_routes(app, vault=vault, store=store, admin_token=admin_token)
