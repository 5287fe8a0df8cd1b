"""Exceptions of the deployment logger.

Every exception that makes an invocation fail is one of these, so the error log line and the
on-failure destination record say precisely what went wrong. Standard library only.
"""

from __future__ import annotations


class DeploymentLoggerError(Exception):
    """Base class of every error the deployment logger raises on purpose."""


class SettingsError(DeploymentLoggerError):
    """An environment variable is missing or malformed (the stack configured the function wrongly)."""


class UnsupportedEventError(DeploymentLoggerError):
    """The event is not one the function handles: not a dict, unknown shape or unknown detail-type."""


class InvalidEventError(DeploymentLoggerError):
    """The event has a supported kind but lacks a field the function needs (e.g. the event id)."""


class MissingJobIdError(InvalidEventError):
    """A CodePipeline job event without a usable job id: no result can be reported for it."""


class UserParametersError(DeploymentLoggerError):
    """The action's UserParameters do not follow the documented schema.

    Reported to CodePipeline as a ``ConfigurationError`` job failure: the pipeline definition must
    be fixed, retrying cannot help.
    """


class JobResultReportingError(DeploymentLoggerError):
    """CodePipeline did not accept the job's failure result, so the job would be left hanging.

    Raised so Lambda retries the invocation and, after the bounded retries, the on-failure
    destination keeps the event.
    """


class NotificationError(DeploymentLoggerError):
    """SNS did not accept a failure notification; raised so the event is retried, not lost."""
