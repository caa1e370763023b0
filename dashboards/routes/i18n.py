"""GET /i18n/{lang}.json (the pages' words) and PUT /api/session/language (the signed-in user's choice)."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from identity.service import Identity
from telecare.i18n import Language

from dashboards.i18n import CompiledCatalogue, compile_all


class LanguageIn(BaseModel):
    """The language to show pages in; null goes back to the service's."""

    language: Language | None


def router(identity: Identity, service_language: Language) -> APIRouter:
    """The catalogue JSON (compiled once, here) and the per-user language preference."""
    catalogues: dict[Language, CompiledCatalogue] = compile_all()
    api = APIRouter(tags=["session"])

    @api.get("/i18n/{language}.json", summary="The pages' words in one language (gettext catalogue as JSON)")
    async def catalogue(language: Language, request: Request) -> Response:
        compiled = catalogues[language]
        headers = {"ETag": compiled.etag, "Cache-Control": "no-cache", "Content-Language": language.value}
        if request.headers.get("if-none-match") == compiled.etag:
            return Response(status_code=304, headers=headers)
        return Response(compiled.body, media_type="application/json", headers=headers)

    @api.put("/api/session/language", summary="Choose the language pages are shown in (kept for this user)")
    async def set_language(body: LanguageIn, request: Request) -> dict[str, object]:
        await identity.set_language(request.state.principal.name, body.language)
        return {"language": (body.language or service_language).value, "chosen": body.language is not None}

    return api
