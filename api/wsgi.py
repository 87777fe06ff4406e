"""WSGI entry point: ``gunicorn -c api/gunicorn.conf.py api.wsgi:app``.

Configuration comes from the environment (``Config.from_env``); see docs/API.md.
"""

from fashion_classifier.api import create_app

app = create_app()
