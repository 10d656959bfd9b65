"""Modal's control plane one layer down: the SDK's own gRPC stub, faked.

``tests/fakes/modal_client.py`` fakes pushpool's ``ModalClient`` seam; this
fakes what ``SdkModalClient`` itself talks to, so the adapter runs through
the real ``modal`` SDK (``FunctionCall.from_id(...).logs.fetch``, its
bucketing and interval logic) and only the RPCs are answered here, with the
SDK's real protobuf messages (``modal_proto.api_pb2``).  Only the RPCs that
reading a function call's or a sandbox's logs needs are implemented; a
sandbox's lines are filed under its task id, as Modal files them.
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
    """Answers the log RPCs: ``FunctionCallFromId``, ``SandboxWait``, ``SandboxGetTaskId``,
    ``AppCountLogs`` and ``AppFetchLogs``."""

    RPCS = ("FunctionCallFromId", "SandboxWait", "SandboxGetTaskId", "AppCountLogs", "AppFetchLogs")

    def __init__(self) -> None:
        self.items: list[tuple[str, api_pb2.TaskLogs]] = []  # (call id or task id, item)
        self.requests: list[Any] = []
        self.failure: Exception | None = None
        for name in self.RPCS:
            setattr(self, name, self._rpc(getattr(self, f"_{name}")))

    @staticmethod
    def task_of(sandbox_id: str) -> str:
        return "ta-" + sandbox_id.removeprefix("sb-")

    def print(self, infra_id: str, text: str, *, at: datetime, stderr: bool = False) -> None:
        """The call or sandbox ``infra_id`` wrote ``text`` at ``at``."""
        descriptor = api_pb2.FILE_DESCRIPTOR_STDERR if stderr else api_pb2.FILE_DESCRIPTOR_STDOUT
        sandbox = infra_id.startswith("sb-")
        item = api_pb2.TaskLogs(
            data=text,
            file_descriptor=descriptor,
            timestamp_ns=int(at.timestamp() * 1_000_000) * 1000,
            function_call_id="" if sandbox else infra_id,
        )
        self.items.append((self.task_of(infra_id) if sandbox else infra_id, item))

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

    def _SandboxWait(self, request: Any) -> Any:
        return api_pb2.SandboxWaitResponse(
            metadata=api_pb2.SandboxHandleMetadata(app_id="ap-sandboxes")
        )

    def _SandboxGetTaskId(self, request: Any) -> Any:
        return api_pb2.SandboxGetTaskIdResponse(task_id=self.task_of(request.sandbox_id))

    def _matching(self, request: Any) -> list[api_pb2.TaskLogs]:
        since, until = _seconds(request.since), _seconds(request.until)
        owner = request.function_call_id or request.task_id
        return sorted(
            (
                item
                for owner_id, item in self.items
                if owner_id == owner and since <= item.timestamp_ns / 1e9 <= until
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
