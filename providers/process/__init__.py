"""Process pools (the module moved here as ``provider``; the next commit splits it)."""

from providers.process.provider import ProcessProvider, build_request, make_provider

__all__ = ["ProcessProvider", "build_request", "make_provider"]
