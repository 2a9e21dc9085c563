"""Errors a user can act on; the CLI prints their message as one line and exits with `exit_code`."""


class DlwpError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    exit_code = 2


class DataMissingError(DlwpError):
    """A dataset file is missing (exit 2); the message says which, where to put it, its origin."""


class SettingsError(DlwpError, ValueError):
    """A setting is out of range, e.g. a bad `dlwp run` flag (exit 2); names the flag and value."""


class BadDataError(DlwpError):
    """The input data cannot be used as asked (exit 2): unreadable CSV, missing label column, ..."""


class DataAnomaliesError(DlwpError):
    """The data gate found anomalies in eval or test against the train schema (exit 1)."""

    exit_code = 1
