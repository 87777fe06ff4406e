"""The REST API: a Flask app factory over the shared ``Predictor``.

``create_app(config=None, predictor=None)`` builds the app; ``api/wsgi.py`` is
the gunicorn entry point and ``api/app.py`` the development server.
"""

from .factory import create_app

__all__ = ["create_app"]
