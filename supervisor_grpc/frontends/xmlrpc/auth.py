"""HTTP basic auth as supervisor checks it: one user per server section, the password stored
in plain text or as ``{SHA}`` + SHA-1 hex.

Owns: the credential check and the 401 challenge header.
May import: stdlib.
Threading: immutable after construction; any connection thread calls ``allows``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

CHALLENGE = 'Basic realm="default"'


class BasicAuth:
    """``allows(header)`` is True when no username is configured or the header matches."""

    def __init__(self, username: str | None, password: str | None) -> None:
        self.username = username
        self._password = password or ""

    @property
    def enabled(self) -> bool:
        return bool(self.username)

    def allows(self, authorization: str | None) -> bool:
        if not self.enabled:
            return True
        if not authorization:
            return False
        scheme, _, encoded = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=False)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.decode("utf-8", "replace").partition(":")
        if not sep:
            return False
        user_ok = hmac.compare_digest(user.encode(), (self.username or "").encode())
        return self._password_ok(password) and user_ok

    def _password_ok(self, given: str) -> bool:
        stored = self._password
        if stored.startswith("{SHA}"):
            digest = hashlib.sha1(given.encode("utf-8")).hexdigest()
            return hmac.compare_digest(digest, stored[5:].strip().lower())
        return hmac.compare_digest(given.encode("utf-8"), stored.encode("utf-8"))
