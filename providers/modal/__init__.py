"""Modal (the module moved here as ``provider``; the next commit splits it)."""

from providers.modal.provider import *  # noqa: F403
from providers.modal.provider import __all__  # noqa: F401
