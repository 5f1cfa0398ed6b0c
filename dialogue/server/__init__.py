"""The HTTP service of a dialogue engine (extra ``[server]``): ``create_app``.

Needs FastAPI and prometheus-client (``pip install 'dialogue[server]'``); nothing
here is imported by ``import dialogue``.
"""

from dialogue.server.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
