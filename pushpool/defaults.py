"""Where ``pushpool server`` listens unless told otherwise: the one definition.

Read by the server and the CLI (``handlers``), the client and ``deploy``
(here), and the Lambda functions' settings (``handlers.bootstrap``), which
carry no httpx: so this module imports nothing, and ``pushpool/__init__``
loads the client only when it is asked for.
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
DEFAULT_API_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/api"
