"""The monitoring service and dashboard (``assay serve``), behind the ``assay[web]`` extra.

An ASGI app (FastAPI on uvicorn) over one workspace: the JSON API under ``/api/v1``
(bearer tokens with scopes) and server-rendered dashboard pages (login by token or
password) with a vendored chart library. The monitoring logic itself lives in
:mod:`assay.monitor`; this package only translates HTTP to it.
"""

from __future__ import annotations

from assay.extras import import_optional

import_optional("fastapi", "web")
import_optional("jinja2", "web")
import_optional("uvicorn", "web")

from assay.server._app import ServerSettings, create_app, serve

__all__ = ["ServerSettings", "create_app", "serve"]
