"""A local stand-in for Twilio's REST API (Calls resource) that records the exact requests it gets."""
from __future__ import annotations

import base64
import html
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
from twilio.request_validator import RequestValidator


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as received: method, path, form fields (lists keep repeated keys) and when."""

    method: str
    path: str
    form: dict[str, list[str]]
    at: float  # time.monotonic()
    sid: str | None

    def field(self, name: str) -> str | None:
        """The single value of a form field (None if absent)."""
        values = self.form.get(name)
        return values[0] if values else None


@dataclass(frozen=True, slots=True)
class Failure:
    status: int
    code: int
    message: str


class FakeTwilio:
    """`with FakeTwilio(sid, token) as fake:` then point TwilioTelephony at `fake.base_url`."""

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-token",
                 *, latency_s: float = 0.0) -> None:
        self.account_sid = account_sid
        self.latency_s = latency_s  # emulated API round trip, for pacing benchmarks
        self.auth_token = auth_token
        self.requests: list[RecordedRequest] = []
        self._failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, status: int, code: int, message: str = "error", times: int = 1) -> None:
        """The next `times` requests get this Twilio-shaped error."""
        with self._lock:
            self._failures.extend([Failure(status, code, message)] * times)

    def calls_created(self) -> list[RecordedRequest]:
        """Successful call-creation requests, in arrival order."""
        return [r for r in self.requests if r.path.endswith("/Calls.json") and r.sid]

    def signature(self, url: str, params: dict[str, str]) -> str:
        """X-Twilio-Signature for a callback, computed as Twilio does."""
        return RequestValidator(self.auth_token).compute_signature(url, params)

    async def callback(self, client: httpx.AsyncClient, url: str, params: dict[str, str],
                       *, signature: str | None = "valid") -> httpx.Response:
        """POST a signed (or deliberately badly signed / unsigned) webhook to our app."""
        headers = {}
        if signature == "valid":
            headers["X-Twilio-Signature"] = self.signature(url, params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await client.post(url, data=params, headers=headers)

    async def drive(self, client: httpx.AsyncClient, sid: str, *statuses: str,
                    **extra: str) -> list[httpx.Response]:
        """Play Twilio's signed status callbacks for a created call, in order, to its StatusCallback URL."""
        created = next(r for r in self.calls_created() if r.sid == sid)
        url = created.field("StatusCallback") or ""
        base = {"AccountSid": self.account_sid, "CallSid": sid, "To": created.field("To") or "",
                "From": created.field("From") or "", "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
        return [await self.callback(client, url, {**base, "CallStatus": status,
                                                  **(extra if status == statuses[-1] else {})})
                for status in statuses]

    async def press(self, client: httpx.AsyncClient, sid: str, digits: str) -> httpx.Response:
        """Play the signed <Gather> action a key press triggers; the reply is our TwiML."""
        created = next(r for r in self.calls_created() if r.sid == sid)
        match = re.search(r'<Gather[^>]* action="([^"]+)"', created.field("Twiml") or "")
        if match is None:
            raise AssertionError("the call's TwiML has no <Gather action>")
        url = html.unescape(match.group(1))
        return await self.callback(client, url, {"AccountSid": self.account_sid, "CallSid": sid,
                                                  "CallStatus": "in-progress", "Digits": digits})

    def _record(self, method: str, path: str, body: str, sid: str | None) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, parse_qs(body, keep_blank_values=True),
                                                 time.monotonic(), sid))

    def _next_failure(self) -> Failure | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else every reply waits ~40 ms for a delayed ACK

            def log_message(self, *args: object) -> None:  # keep test output clean
                return

            def _reply(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                if fake.latency_s:
                    time.sleep(fake.latency_s)  # this server thread plays a slow API; no test waits here
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                path = urlsplit(self.path).path
                expected = "Basic " + base64.b64encode(
                    f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    fake._record("POST", path, body, None)
                    return self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401,
                                             "more_info": "https://www.twilio.com/docs/errors/20003"})
                prefix = f"/2010-04-01/Accounts/{fake.account_sid}/Calls"
                if not path.startswith(prefix):
                    fake._record("POST", path, body, None)
                    return self._reply(404, {"code": 20404, "message": "Not found", "status": 404})
                failure = fake._next_failure()
                if failure:
                    fake._record("POST", path, body, None)
                    return self._reply(failure.status, {
                        "code": failure.code, "message": failure.message, "status": failure.status,
                        "more_info": f"https://www.twilio.com/docs/errors/{failure.code}"})
                form = parse_qs(body)
                sid = (path[len(prefix) + 1:-len(".json")] if path != prefix + ".json"
                       else "CA" + uuid.uuid4().hex)
                fake._record("POST", path, body, sid)
                self._reply(200 if path != prefix + ".json" else 201, {
                    "sid": sid, "account_sid": fake.account_sid, "status": form.get("Status", ["queued"])[0],
                    "to": form.get("To", [""])[0], "from": form.get("From", [""])[0], "direction": "outbound-api",
                    "api_version": "2010-04-01", "uri": f"{prefix}/{sid}.json"})

        return Handler
