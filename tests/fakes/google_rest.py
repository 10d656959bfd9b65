"""The request handling that Google's REST fakes share (Cloud Run v2, Vertex AI v1).

Each request is decoded, recorded under the fake's lock, matched against the
fake's routes and answered with the route's JSON or a ``google.rpc.Status``
error, the shape the official clients' REST transports expect.  A fake names
its API version prefix and its routes; ``before_lock`` lets one delay a request
outside the lock so that concurrent calls can race, as they would on the real API.
"""

from __future__ import annotations

import copy
import json
import re
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from tests.fakes.cloud_run_api import ApiError, RecordedRequest
from tests.fakes.http_fake import QuietHandler, take_failure

Routes = list[tuple[str, re.Pattern[str], str]]


class GoogleRestHandler(QuietHandler):
    fake: Any  # a fake with ``state`` (lock, requests, failures) and one method per route action
    prefix: ClassVar[str]  # "/v2/"
    routes: ClassVar[Routes]

    def before_lock(self, method: str, path: str) -> None:
        """Called before the request takes the fake's lock (nothing by default)."""

    def handle_method(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.removeprefix(self.prefix)
        query = parse_qs(url.query)
        raw = self.read_body()
        body = json.loads(raw) if raw else None
        state = self.fake.state
        self.before_lock(method, path)
        with state.lock:
            record = RecordedRequest(method, path, query, body)
            state.requests.append(record)
            try:
                answer = self._dispatch(method, path, query, body)
                record.status, record.response = HTTPStatus.OK, copy.deepcopy(answer)
            except ApiError as error:
                payload = {"code": error.code, "message": error.message, "status": error.status}
                record.status, record.response = error.code, {"error": payload}
            self._reply(record.status, record.response)

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        failure = take_failure(self.fake.state, method, path)
        if failure is not None:
            raise ApiError(failure.code, failure.status, failure.message)
        for verb, pattern, action in self.routes:
            match = pattern.match(path)
            if verb == method and match is not None:
                return getattr(self.fake, action)(match, query, body)
        raise ApiError(404, "NOT_FOUND", f"No route for {method} {self.prefix}{path}")

    def _reply(self, code: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
