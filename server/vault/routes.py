"""HTTP: PUT/GET /api/owners/{id}/credentials. Responses carry masked values only."""

from __future__ import annotations

import json

from aiohttp import web
from pydantic import ValidationError

from server.vault.auth import admin_only
from server.vault.store import CredentialsIn, CredentialVault, OwnerCredentials
from server.voiceprint.store import OwnerError, VoiceprintStore


def _errors(exc: ValidationError) -> list[str]:
    # field names and reasons only: pydantic's default message would echo the submitted (secret) values
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_input=False)]


def setup_credential_routes(
    app: web.Application, *, vault: CredentialVault, store: VoiceprintStore, admin_token: str
) -> None:
    guard = admin_only(admin_token)

    def owner_or_404(request: web.Request) -> int:
        try:
            return store.get_owner(int(request.match_info["owner_id"])).id
        except (OwnerError, ValueError) as exc:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "unknown owner"}), content_type="application/json"
            ) from exc

    @guard
    async def put_credentials(request: web.Request) -> web.Response:
        owner_id = owner_or_404(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        try:
            creds = OwnerCredentials.from_input(CredentialsIn.model_validate(body))
        except ValidationError as exc:
            return web.json_response({"error": "invalid credentials", "details": _errors(exc)}, status=400)
        vault.bind(owner_id, creds)
        return web.json_response({"owner_id": owner_id, "credentials": creds.masked()})

    @guard
    async def get_credentials(request: web.Request) -> web.Response:
        owner_id = owner_or_404(request)
        masked = vault.masked(owner_id)
        if masked is None:
            return web.json_response({"error": "no credentials bound"}, status=404)
        return web.json_response({"owner_id": owner_id, "credentials": masked})

    app.router.add_put("/api/owners/{owner_id}/credentials", put_credentials)
    app.router.add_get("/api/owners/{owner_id}/credentials", get_credentials)
