"""Exceptions raised by the client: one base class, one subclass per kind of failure.

Errors from the server are built from its RFC 9457 problem document (``type``, ``title``,
``status``, ``detail``); the ``detail`` is the message shown to the user.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

__all__ = [
    "PKIError",
    "PKIConnectionError",
    "PKIAuthError",
    "PKINotFoundError",
    "PKIValidationError",
    "PKIServerError",
    "PKICertificateError",
    "error_from_problem",
]


class PKIError(Exception):
    """Base class of every error this package raises.

    ``status`` is the HTTP status (None when no response was received), ``problem_type`` the
    problem document's ``type`` URI and ``detail`` its human-readable explanation.
    """

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        problem_type: Optional[str] = None,
        detail: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem_type = problem_type
        self.detail = detail if detail is not None else message


class PKIConnectionError(PKIError):
    """The PKI server could not be reached, or its TLS certificate could not be verified."""


class PKIAuthError(PKIError):
    """The server refused the caller (401: no or bad credentials, 403: not allowed)."""


class PKINotFoundError(PKIError):
    """The service or certificate does not exist (404), or no certificate is stored locally."""


class PKIValidationError(PKIError):
    """The server rejected the request as invalid (400, 409, 422, …)."""


class PKIServerError(PKIError):
    """The server failed (5xx), e.g. its CA is sealed (503)."""


class PKICertificateError(PKIError):
    """A local certificate or key problem: missing, unreadable, or not matching each other."""


def error_from_problem(
    status: int, body: Optional[Mapping[str, Any]], fallback: str, what: str
) -> PKIError:
    """Map an HTTP error response to the matching exception.

    ``body`` is the parsed problem document (or None if the body was not JSON), ``fallback`` the
    raw body text or reason phrase, ``what`` a short description of the call ("issue certificate").
    """
    detail = fallback
    problem_type: Optional[str] = None
    title = ""
    if body:
        detail = str(body.get("detail") or body.get("title") or fallback)
        problem_type = body.get("type") if isinstance(body.get("type"), str) else None
        title = str(body.get("title") or "")
    label = f"{status} {title}".strip()
    message = f"{what}: {label}: {detail}" if detail else f"{what}: {label}"
    cls: type[PKIError]
    if status in (401, 403):
        cls = PKIAuthError
    elif status == 404:
        cls = PKINotFoundError
    elif status >= 500:
        cls = PKIServerError
    else:
        cls = PKIValidationError
    return cls(message, status=status, problem_type=problem_type, detail=detail)
