"""ICE servers for a consult: STUN as configured, TURN with ephemeral credentials.

coturn's TURN REST API scheme (``use-auth-secret`` + ``static-auth-secret``, see
deploy/coturn/turnserver.conf): the username is ``"<expiry epoch seconds>:<user id>"`` and
the password ``base64(HMAC-SHA1(secret, username))``. coturn recomputes the password from
the username and its copy of the secret and refuses it after the expiry, so what reaches a
browser is good for one user for ``ttl_s`` only; the secret itself never leaves the server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any


def turn_password(secret: str, username: str) -> str:
    """``base64(HMAC-SHA1(secret, username))``, as coturn computes it."""
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def turn_credentials(secret: str, user: str, now: float, ttl_s: float) -> tuple[str, str]:
    """(username, password) valid until ``now + ttl_s`` for ``user`` (no ``:`` allowed in it).

    Raises:
        ValueError: an empty secret or a user id containing ``:``.
    """
    if not secret:
        raise ValueError("no TURN secret configured")
    if ":" in user:
        raise ValueError("the TURN user id must not contain ':'")
    username = f"{int(now + ttl_s)}:{user}"
    return username, turn_password(secret, username)


def split_urls(text: str) -> list[str]:
    return [u.strip() for u in text.replace("\n", ",").split(",") if u.strip()]


@dataclass(frozen=True, slots=True)
class IceConfig:
    """``stun_urls``/``turn_urls``: comma-separated ``stun:``/``turn:``/``turns:`` URLs."""

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = ""
    turn_ttl_s: float = 3600.0

    @classmethod
    def from_text(cls, stun: str, turn: str, secret: str, ttl_s: float) -> "IceConfig":
        for url in split_urls(stun):
            if not url.startswith("stun:") and not url.startswith("stuns:"):
                raise ValueError(f"not a STUN URL: {url!r}")
        for url in split_urls(turn):
            if not url.startswith("turn:") and not url.startswith("turns:"):
                raise ValueError(f"not a TURN URL: {url!r}")
        if split_urls(turn) and not secret:
            raise ValueError("turn_urls are set but turn_secret is not (TELECONSULT_TURN_SECRET or TURN_SECRET)")
        return cls(tuple(split_urls(stun)), tuple(split_urls(turn)), secret, ttl_s)

    def servers_for(self, user: str, now: float) -> list[dict[str, Any]]:
        """RTCIceServer dicts (``urls``, and for TURN ``username``/``credential``) for one user."""
        servers: list[dict[str, Any]] = []
        if self.stun_urls:
            servers.append({"urls": list(self.stun_urls)})
        if self.turn_urls:
            username, password = turn_credentials(self.turn_secret, user, now, self.turn_ttl_s)
            servers.append({"urls": list(self.turn_urls), "username": username, "credential": password,
                            "expires_at": int(now + self.turn_ttl_s)})
        return servers


__all__ = ["IceConfig", "split_urls", "turn_credentials", "turn_password"]
