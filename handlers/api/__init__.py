"""The HTTP API: one Powertools resolver served by Lambda and by uvicorn.

``handler`` is the Lambda entry point; ``handle`` serves one API Gateway v2
event with a given container (``handlers.local.asgi`` calls it for local mode).
"""

from handlers.api.app import handle, handler, resolver

__all__ = ["handle", "handler", "resolver"]
