"""The API docs (/docs Swagger UI, /redoc) from files shipped in a pinned wheel: no CDN, works offline."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
# fastapi-offline (pinned in pyproject.toml) ships the swagger-ui 5 and redoc dist files; we use only them.
ASSETS_DIR = Path(str(resources.files("fastapi_offline") / "static"))
FAVICON_URL = "/favicon.ico"


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their JS/CSS from this app."""
    title = f"{app.title} - docs"

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=FAVICON_URL,
            # The default validator badge is an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=title,
                              redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js", redoc_favicon_url=FAVICON_URL,
                              with_google_fonts=False)

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
