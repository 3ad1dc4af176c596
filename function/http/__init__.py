"""The HTTP layer: a Flask app around the engine (no model logic here), served by gunicorn.

Entry points: `function.http.app.create_app` and `function.http.wsgi:app` (gunicorn). Nothing is
imported here, so gunicorn's master can load the log formatter without loading the model stack.
"""
