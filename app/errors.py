"""Domain errors: edges turn them into form errors, JSON errors or CLI exit codes."""


class DomainError(Exception):
    """A rule refused the action; `field` names the input at fault when there is one."""

    status_code = 422

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """The input breaks a rule (bad e-mail, phone, billing day...)."""


class Conflict(DomainError):
    """The action clashes with the current state (duplicate, wrong status)."""

    status_code = 409


class PermissionDenied(DomainError):
    """The actor lacks the permission the action needs."""

    status_code = 403
