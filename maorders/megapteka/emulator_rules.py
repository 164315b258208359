"""The MegApteka emulator's refusals and validators (shared/protocols/megapteka.md).

Kept apart from `emulator.py` so that each stays a readable size; the emulator imports
everything here. Each rule is the contract's: "Errors: JSON {error, message} with
4xx/5xx", "Money is a JSON number with at most 2 decimals", "Quantities are integers",
"Times are ISO-8601 with offset", "status_id is a UUID", paging 1..500.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import datetime
from typing import Any

from maorders.emulation import Request, Response

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
CODE_FIELDS = ("barcode", "protek_code", "katren_code", "egk_code")


class ApiError(Exception):
    """A refusal; `route` turns it into the contract's JSON error reply."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers

    def response(self) -> Response:
        return Response.json(self.status, {"error": self.error, "message": self.message}, self.headers)


def _bad(message: str, error: str = "bad_request") -> ApiError:
    return ApiError(400, error, message)


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass; JSON true is not a quantity


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _is_money(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    # round() is exact on the nearest double, so this is "at most 2 decimals" as written
    return value >= 0 and round(value, 2) == value


def _is_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()  # canonical 8-4-4-4-12 form only
    except ValueError:
        return False


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(f"body is not valid JSON: {exc}", "bad_json") from None


def _query_int(request: Request, name: str, default: int) -> int:
    raw = request.arg(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]+", raw):
        raise _bad(f"{name} must be a non-negative integer")
    return int(raw)


def _page_args(request: Request) -> tuple[int, int]:
    since_id = _query_int(request, "since_id", 0)
    limit = _query_int(request, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad(f"limit must be 1..{MAX_LIMIT}")
    return since_id, limit


def _item_problem(item: Any) -> str | None:
    """Why a stock item cannot be shown on the site, or None when it is fine."""
    if not isinstance(item, dict):
        return "item is not an object"
    if not _is_text(item.get("sku")):
        return "sku is missing"
    if not _is_text(item.get("name")):
        return "name is missing"
    if not _is_money(item.get("price")):
        return "price must be a number >= 0 with at most 2 decimals"
    if not _is_int(item.get("quantity")) or item["quantity"] < 0:
        return "quantity must be an integer >= 0"
    codes = [item.get(name) for name in CODE_FIELDS]
    if any(code is not None and not isinstance(code, str) for code in codes):
        return "codes must be strings"
    if not any(code and code.strip() for code in codes):
        return "no barcode, protek_code, katren_code or egk_code"
    return None


def _split_items(items: list) -> tuple[list[dict], list[dict]]:
    accepted, rejected = [], []
    for item in items:
        problem = _item_problem(item)
        if problem is None:
            accepted.append(item)
        else:
            sku = item.get("sku") if isinstance(item, dict) else None
            rejected.append({"sku": sku, "reason": problem})
    return accepted, rejected
