"""gunicorn settings, read from the environment (``gunicorn -c gunicorn.conf.py wsgi:app``).

WEB_CONCURRENCY   worker processes (default: the number of cores)
GUNICORN_THREADS  threads per worker (default 4: bcrypt releases the GIL, so a login hashing
                  on one thread does not stop the others)
GUNICORN_TIMEOUT  seconds a request may take before its worker is restarted (default 30)
HOST / PORT       where to listen (default 127.0.0.1:5000)
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Build the app once in the master, then fork: faster start, config errors stop start-up at once.
preload_app = True
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
