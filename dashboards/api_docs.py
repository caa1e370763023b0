"""The API docs (/docs Swagger UI, /redoc) from files shipped in a pinned wheel: no CDN, works offline."""
from __future__ import annotations

import base64
import hashlib
import re
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


_INLINE = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _allow_own_inline(page: HTMLResponse) -> HTMLResponse:
    """The docs pages start their viewer with one inline script: allow exactly that script (by hash), nothing else."""
    from dashboards.security import CSP

    hashes = " ".join("'sha256-%s'" % base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode()
                      for m in _INLINE.finditer(page.body.decode()))
    # The viewers also style elements from script: inline styles only on these two pages.
    page.headers["Content-Security-Policy"] = CSP.replace("script-src 'self'", f"script-src 'self' {hashes}").replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'")
    return page


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their JS/CSS from this app."""
    title = f"{app.title} - docs"

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return _allow_own_inline(get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=FAVICON_URL,
            # The default validator badge is an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None}))

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _allow_own_inline(get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=title,
                              redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js", redoc_favicon_url=FAVICON_URL,
                              with_google_fonts=False))

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
