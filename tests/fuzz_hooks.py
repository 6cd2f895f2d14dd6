"""schemathesis hooks for tests/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

A client sends a new `Idempotency-Key` with each new request. The fuzzer would send one value
with different bodies, which the API refuses by design (422, as the IETF draft asks). So each
well-formed key is made unique before the call; malformed ones are left for the API to refuse.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

WELL_FORMED = re.compile(r"[!-~]{1,200}")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and WELL_FORMED.fullmatch(key):
        case.headers["Idempotency-Key"] = uuid.uuid4().hex
