"""The simulated agent desktop: sign-in, the desktop page and its assets, and a CRM lookup.

Two faults slow it down on purpose. Server think time on the desktop page and the CRM API
is a platform fault (the contact-center application itself is slow); added latency on the
CRM lookup alone is a dependency fault (the CRM behind the desktop is slow).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import secrets
from dataclasses import dataclass

from cxj_standalone.stack import assets
from cxj_standalone.stack.http_server import (
    HttpError,
    HttpRequest,
    HttpResponse,
    HttpServer,
    json_response,
)

SESSION_COOKIE = "cxj_demo_session"
CRM_PREFIX = "/api/crm/customers/"
# Sign-ins remembered at once; the oldest token stops working past this many.
MAX_TOKENS = 10_000

_HTML = "text/html; charset=utf-8"
_STATIC = {
    "/assets/desktop.css": (assets.DESKTOP_CSS, "text/css; charset=utf-8"),
    "/assets/desktop.js": (assets.DESKTOP_JS, "text/javascript; charset=utf-8"),
}
_NAMES = ("Ada Okafor", "Bruno Silva", "Chloe Martin", "Dev Patel", "Emma Schulz", "Farah Haddad")
_TIERS = ("standard", "silver", "gold", "platinum")


@dataclass
class DesktopFaults:
    """Delays the desktop adds on purpose, in seconds; read on every request.

    Attributes:
        server_delay_s: think time on the desktop pages (a platform fault).
        crm_delay_s: extra time on the CRM API only (a dependency fault).
    """

    server_delay_s: float = 0.0
    crm_delay_s: float = 0.0


def customer_record(customer_id: str) -> dict[str, object]:
    """A stable, made-up customer for any id: the same id always reads the same."""
    digest = hashlib.sha256(customer_id.encode()).digest()
    return {
        "id": customer_id,
        "name": _NAMES[digest[0] % len(_NAMES)],
        "status": "active",
        "tier": _TIERS[digest[1] % len(_TIERS)],
        "openCases": digest[2] % 4,
        "lastContact": f"{1 + digest[3] % 28} days ago",
        "preferredChannel": ("voice", "chat", "email")[digest[4] % 3],
    }


class AgentDesktop:
    """The desktop's routes, over an HttpServer."""

    def __init__(self, host: str, port: int, faults: DesktopFaults) -> None:
        self.faults = faults
        self.server = HttpServer("agent desktop", host, port, self.handle)
        self._tokens: collections.OrderedDict[str, str] = collections.OrderedDict()

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answers one request."""
        path = request.path
        if path in _STATIC:
            _only(request, "GET", "HEAD")
            text, content_type = _STATIC[path]
            return HttpResponse(200, text.encode(), content_type)
        if path == "/":
            _only(request, "GET", "HEAD")
            return HttpResponse(200, assets.SIGN_IN_HTML.encode(), _HTML)
        if path == "/desktop":
            _only(request, "GET", "HEAD")
            return await self._desktop(request)
        if path == "/api/login":
            _only(request, "POST")
            return self._login(request)
        if path.startswith(CRM_PREFIX) and len(path) > len(CRM_PREFIX):
            _only(request, "GET")
            return await self._customer(request, path.removeprefix(CRM_PREFIX))
        if path == "/healthz":
            return HttpResponse(200, b"ok\n")
        raise HttpError(404, f"no such page: {path}")

    async def _desktop(self, request: HttpRequest) -> HttpResponse:
        if not request.headers.get("authorization") and self._cookie_agent(request) is None:
            raise HttpError(
                401,
                "sign in first: send an Authorization header, or POST /api/login in a browser",
                (("WWW-Authenticate", 'Bearer realm="agent-desktop"'),),
            )
        await _think(self.faults.server_delay_s)
        return HttpResponse(200, assets.DESKTOP_HTML.encode(), _HTML)

    def _login(self, request: HttpRequest) -> HttpResponse:
        document = request.json()
        agent = document.get("agent") if isinstance(document, dict) else None
        if not isinstance(agent, str) or not agent:
            raise HttpError(400, 'the body must be JSON with "agent": the agent\'s id')
        token = secrets.token_urlsafe(24)
        self._tokens[token] = agent
        while len(self._tokens) > MAX_TOKENS:
            self._tokens.popitem(last=False)
        cookie = f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
        return json_response(
            200,
            {"token": token, "agent": agent, "expiresIn": 3600},
            (("Set-Cookie", cookie),),
        )

    async def _customer(self, request: HttpRequest, customer_id: str) -> HttpResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        signed_in = scheme.lower() == "bearer" and token.strip() in self._tokens
        if not signed_in and self._cookie_agent(request) is None:
            raise HttpError(
                401,
                "the CRM needs Authorization: Bearer <token> with a token from POST /api/login",
                (("WWW-Authenticate", 'Bearer realm="crm"'),),
            )
        await _think(self.faults.crm_delay_s)  # the CRM is its own service: a dependency
        return json_response(200, {"customer": customer_record(customer_id)})

    def _cookie_agent(self, request: HttpRequest) -> str | None:
        for item in request.headers.get("cookie", "").split(";"):
            name, _, value = item.strip().partition("=")
            if name == SESSION_COOKIE:
                return self._tokens.get(value)
        return None


def _only(request: HttpRequest, *methods: str) -> None:
    if request.method not in methods:
        raise HttpError(
            405, f"{request.path} answers {', '.join(methods)}", (("Allow", ", ".join(methods)),)
        )


async def _think(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
