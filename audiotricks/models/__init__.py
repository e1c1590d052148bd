"""Database models; importing this package registers every table on the metadata."""

from audiotricks.models.auth_session import AuthSession
from audiotricks.models.base import Base, UtcDateTime, utcnow
from audiotricks.models.email_token import EmailToken
from audiotricks.models.history import HistoryItem, include_object
from audiotricks.models.job import Job
from audiotricks.models.settings import PROVIDERS, SUMMARY_QUALITIES, UserSettings
from audiotricks.models.user import User

__all__ = [
    "PROVIDERS",
    "SUMMARY_QUALITIES",
    "AuthSession",
    "Base",
    "EmailToken",
    "HistoryItem",
    "Job",
    "User",
    "UserSettings",
    "UtcDateTime",
    "include_object",
    "utcnow",
]
