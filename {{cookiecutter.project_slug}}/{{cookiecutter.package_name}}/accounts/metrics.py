"""Accounts' Prometheus metrics (see core/metrics.py and docs/operating.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SIGN_IN_ATTEMPTS = Counter("accounts_sign_in_attempts", "Sign-in forms submitted.")
SIGN_IN_FAILURES = Counter(
    "accounts_sign_in_failures", "Sign-ins refused: unknown email, wrong password or inactive."
)
SIGN_IN_RATE_LIMITED = Counter(
    "accounts_sign_in_rate_limited", "Sign-ins answered 429: too many attempts."
)
HASHES_IN_FLIGHT = Gauge(
    "accounts_password_hashes_in_flight",
    "Argon2 hashes or checks running in worker threads.",
    multiprocess_mode="livesum",
)
