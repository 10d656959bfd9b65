"""Modal's control plane one layer down: the SDK's own gRPC stub, faked.

``tests/fakes/modal_client.py`` fakes pushpool's ``ModalClient`` seam; this
fakes what ``SdkModalClient`` itself talks to, so the adapter runs through
the real ``modal`` SDK (``FunctionCall.from_id(...).logs.fetch``, its
bucketing and interval logic) and only the RPCs are answered here, with the
SDK's real protobuf messages (``modal_proto.api_pb2``).  Only the RPCs that
reading a function call's logs needs are implemented.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modal._utils.async_utils import synchronizer
from modal.client import _Client
from modal_proto import api_pb2


def _seconds(stamp: Any) -> float:
    return float(stamp.seconds) + stamp.nanos / 1e9


class FakeControlPlane:
    """Answers ``FunctionCallFromId``, ``AppCountLogs`` and ``AppFetchLogs``."""

    def __init__(self) -> None:
        self.items: list[tuple[str, api_pb2.TaskLogs]] = []  # (function call id, item)
        self.requests: list[Any] = []
        self.failure: Exception | None = None
        for name in ("FunctionCallFromId", "AppCountLogs", "AppFetchLogs"):
            setattr(self, name, self._rpc(getattr(self, f"_{name}")))

    def print(self, call_id: str, text: str, *, at: datetime, stderr: bool = False) -> None:
        descriptor = api_pb2.FILE_DESCRIPTOR_STDERR if stderr else api_pb2.FILE_DESCRIPTOR_STDOUT
        item = api_pb2.TaskLogs(
            data=text,
            file_descriptor=descriptor,
            timestamp_ns=int(at.timestamp() * 1_000_000) * 1000,
            function_call_id=call_id,
        )
        self.items.append((call_id, item))

    def client(self) -> Any:
        """A real ``modal.Client`` whose control-plane stub is this fake."""
        inner = _Client("https://api.modal.invalid", api_pb2.CLIENT_TYPE_CLIENT, ("ak-x", "as-x"))
        inner._control_plane_stub = self  # type: ignore[assignment]
        inner._opened = True
        return synchronizer._translate_out(inner)

    def _rpc(self, answer: Any) -> Any:
        async def call(request: Any, **_: Any) -> Any:
            self.requests.append(request)
            if self.failure is not None:
                raise self.failure
            return answer(request)

        return call

    def _FunctionCallFromId(self, request: Any) -> Any:
        return api_pb2.FunctionCallFromIdResponse(
            function_call_id=request.function_call_id,
            num_inputs=1,
            metadata=api_pb2.FunctionCallHandleMetadata(app_id="ap-flows", function_id="fu-run"),
        )

    def _matching(self, request: Any) -> list[api_pb2.TaskLogs]:
        since, until = _seconds(request.since), _seconds(request.until)
        return sorted(
            (
                item
                for call_id, item in self.items
                if call_id == request.function_call_id and since <= item.timestamp_ns / 1e9 <= until
            ),
            key=lambda item: item.timestamp_ns,
        )

    def _AppCountLogs(self, request: Any) -> Any:
        size = request.bucket_secs
        counts: dict[int, int] = {}
        for item in self._matching(request):
            start = int(item.timestamp_ns // 1_000_000_000) // size * size
            counts[start] = counts.get(start, 0) + 1
        buckets = []
        for start, count in sorted(counts.items()):
            bucket = api_pb2.AppCountLogsResponse.LogBucket(stdout_logs=count)
            bucket.bucket_start_at.FromDatetime(
                datetime.fromtimestamp(start, UTC).replace(tzinfo=None)
            )
            buckets.append(bucket)
        return api_pb2.AppCountLogsResponse(buckets=buckets)

    def _AppFetchLogs(self, request: Any) -> Any:
        items = self._matching(request)[: request.limit or None]
        batch = api_pb2.TaskLogsBatch(task_id="ta-1", function_id="fu-run")
        batch.items.extend(items)
        return api_pb2.AppFetchLogsResponse(batches=[batch] if items else [])
