"""The framework floor for bench/run.py: bare Flask, one route answering a small JSON object.

Served like our app (gunicorn sync workers, two per core, no access log), so the gap between
this and our ``/health`` is what our own hooks cost.
"""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/ping")
def ping():  # type: ignore[no-untyped-def]
    return jsonify(status="ok")
