"""Mail: account recovery, address verification and security notices, sent by the workers.

- :mod:`.settings` — what ``MAIL_URL``, ``MAIL_FROM`` and ``FRONTEND_URL`` mean (no Flask).
- :mod:`.messages` — each mail's text and HTML, built as a standard-library ``EmailMessage``.
- :mod:`.transport` — hand a message to the SMTP server, or to the log in development.
- :mod:`.outbox` — what goes on the queue (what to send to whom, never a token) and what a worker
  does with it: mint the token, build the mail, send it.
- :mod:`.tasks` — the queue's task that sends, retried with backoff.
"""
