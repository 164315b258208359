"""What an order edit does to a RetailCRM order, and the history records it writes.

The part of `RetailcrmEmulator` that applies `orders/{id}/edit` changes (and a manager's or
another integration's edits) and records them in `/orders/history` as RetailCRM names them.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any

FIELD_NAMES = {
    "firstName": "first_name", "lastName": "last_name", "additionalPhone": "additional_phone",
    "managerComment": "manager_comment", "customerComment": "customer_comment",
    "statusComment": "status_comment", "externalId": "external_id", "orderType": "order_type",
    "orderMethod": "order_method", "managerId": "manager", "shipmentDate": "shipment_date",
    "shipmentStore": "shipment_store", "items": "order_product",
}
CODE_FIELDS = {"status", "orderType", "orderMethod", "shipmentStore"}  # values are {code}
DELIVERY_FIELDS = {"code": "delivery_type", "cost": "delivery_cost",
                   "netCost": "delivery_net_cost", "date": "delivery_date",
                   "time": "delivery_time", "address": "delivery_address",
                   "service": "delivery_service", "data": "integration_delivery_data"}
STRING_FIELDS = {"status", "firstName", "lastName", "patronymic", "phone", "additionalPhone",
                 "email", "managerComment", "customerComment", "statusComment", "externalId",
                 "number", "orderType", "orderMethod"}
PAID_STATUSES = {"paid"}
_STAMP = "%Y-%m-%d %H:%M:%S"


class ApiError(ValueError):
    """A RetailCRM error reply: HTTP status, errorMsg and optional field errors."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


def _entity_error(field: str, message: str) -> ApiError:
    return ApiError(400, "Errors in the entity format", {field: message})


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _stamp() -> str:
    return datetime.now().strftime(_STAMP)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _int_param(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if not re.fullmatch(r"\d+", value):
        raise _entity_error(name, "This value should be of type integer.")
    return int(value)


class OrderChanges:
    """Applying and recording order changes; mixed into `RetailcrmEmulator`."""

    orders: dict[int, dict[str, Any]]
    history: list[dict[str, Any]]
    payments: dict[int, dict[str, Any]]
    _ids: dict[str, int]
    _fixed_sums: dict[int, set[str]]

    def _render(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order as the API shows it: empty collections become `[]`."""
        shown = copy.deepcopy(order)
        for key in ("payments", "customFields"):
            if not shown.get(key):
                shown[key] = []
        return shown

    @staticmethod
    def _reduced(order: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "externalId", "number", "site", "status")
        return {k: order[k] for k in keys if order.get(k) is not None}

    # -- order changes ------------------------------------------------------------------------
    def _apply_changes(self, order: dict[str, Any], changes: dict[str, Any], source: str) -> None:
        """Validate everything first, then apply and record one history entry per field."""
        self._validate_changes(changes)
        entries: list[tuple[str, Any, Any]] = []
        for key, new in changes.items():
            if key == "delivery":
                entries += self._apply_delivery(order, new)
            elif key == "customFields":
                entries += self._apply_custom_fields(order, new)
            elif key == "items":
                old = copy.deepcopy(order.get("items", []))
                order["items"] = self._new_items(_keep_ids(old, new))
                entries += _item_entries(old, order["items"])
            elif order.get(key) != new:
                entries.append((FIELD_NAMES.get(key, _snake(key)),
                                _wrap(key, order.get(key)), _wrap(key, new)))
                order[key] = new
        if "status" in changes and any(field == "status" for field, _, _ in entries):
            order["statusUpdatedAt"] = _stamp()
        self._recompute(order)
        for field, old, new in entries:
            self._record(order, field, old, new, source)

    @staticmethod
    def _validate_changes(changes: dict[str, Any]) -> None:
        for key in ("id", "payments", "site"):
            if key in changes:
                raise _entity_error(key, "This field cannot be changed by orders/edit "
                                         "(payments: use orders/payments/*).")
        for key in STRING_FIELDS & changes.keys():
            value = changes[key]
            if key == "status" and not (isinstance(value, str) and value):
                raise _entity_error(key, "This value is not valid.")
            if value is not None and not isinstance(value, str):   # null clears a field
                raise _entity_error(key, "This value is not valid.")
        for key in ("delivery", "customFields"):
            if key in changes and not isinstance(changes[key], dict):
                raise _entity_error(key, "This value should be an object.")
        items = changes.get("items", [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _entity_error("items", "This value should be a list of objects.")
        address = changes.get("delivery", {}).get("address")
        if address is not None and not isinstance(address, dict):
            raise _entity_error("delivery[address]", "This value should be an object.")

    def _apply_delivery(self, order: dict[str, Any], delivery: dict[str, Any]
                        ) -> list[tuple[str, Any, Any]]:
        current = order.setdefault("delivery", {})
        entries = []
        for key, new in delivery.items():
            old = copy.deepcopy(current.get(key))
            if key == "address":
                new = {**(old or {}), **new}   # a partial address updates its parts
            if old == new:
                continue
            current[key] = new
            if key == "address":
                # one record per part, as RetailCRM writes them (objects.xml of retailcrm/
                # bitrix-module and woocommerce-module: delivery_address.city, .street, …)
                entries += [(f"delivery_address.{_snake(part)}", (old or {}).get(part), new.get(part))
                            for part in sorted(set(old or {}) | set(new)) if (old or {}).get(part) != new.get(part)]
                continue
            field = DELIVERY_FIELDS.get(key, "delivery_" + _snake(key))
            if key == "code":
                old, new = _code(old), _code(new)
            entries.append((field, old, copy.deepcopy(new)))
        return entries

    @staticmethod
    def _apply_custom_fields(order: dict[str, Any], fields: dict[str, Any]
                             ) -> list[tuple[str, Any, Any]]:
        current = order.get("customFields") or {}
        order["customFields"] = current
        entries = []
        for code, new in fields.items():
            if current.get(code) != new:
                entries.append((code, current.get(code), new))
                current[code] = new
        return entries

    def _new_items(self, items: list[Any]) -> list[dict[str, Any]]:
        result = []
        for raw in items:
            if not isinstance(raw, dict):
                raise _entity_error("items", "Each item should be an object.")
            item = copy.deepcopy(raw)
            if "id" not in item:
                self._ids["item"] += 1
                item["id"] = self._ids["item"]
            item.setdefault("quantity", 1)
            item.setdefault("initialPrice", 0)
            result.append(item)
        return result

    def _recompute(self, order: dict[str, Any]) -> None:
        summ = sum(i.get("initialPrice", 0) * i.get("quantity", 1) for i in order.get("items", []))
        sums = {
            "summ": summ,
            "totalSumm": summ + order.get("delivery", {}).get("cost", 0),
            "prepaySum": sum(p["amount"] for p in self.payments.values()
                             if p["order"]["id"] == order["id"] and p["status"] in PAID_STATUSES),
        }
        fixed = self._fixed_sums.get(order["id"], set())
        order.update({k: v for k, v in sums.items() if k not in fixed})

    def _record(self, order: dict[str, Any], field: str, old: Any, new: Any, source: str,
                created: bool = False, payment: dict[str, Any] | None = None,
                current_key: bool = True) -> None:
        self._ids["history"] += 1
        entry: dict[str, Any] = {"id": self._ids["history"], "createdAt": _stamp()}
        if created:
            entry["created"] = True
        entry.update({"source": source, "field": field, "oldValue": copy.deepcopy(old),
                      "newValue": copy.deepcopy(new)})
        if source == "api":
            entry["apiKey"] = {"current": current_key}
        else:
            entry["user"] = {"id": 1}
        if payment is not None:
            entry["payment"] = payment
        entry["order"] = self._render(order) if created else self._reduced(order)
        self.history.append(entry)


# An item's parts as the feed names them (objects.xml: order_product.quantity, .initial_price,
# .discount_total, .discount_percent, .status, .summ); a bare `order_product` only when an item
# is added (oldValue null) or removed (newValue null).
ITEM_FIELDS = {"quantity": "quantity", "initialPrice": "initial_price", "discountTotal": "discount_total",
               "discountPercent": "discount_percent", "status": "status", "summ": "summ"}


def _item_order(key: str) -> tuple[int, str]:
    """The parts objects.xml names first, in its order; then the rest by name."""
    names = list(ITEM_FIELDS)
    return (names.index(key), "") if key in ITEM_FIELDS else (len(names), key)


def _keep_ids(old: list[dict[str, Any]], new: list[Any]) -> list[Any]:
    """A new item list keeps the ids of the items it still has (matched by offer), so a changed
    quantity is a change of that item, not a removal and an addition."""
    by_offer = {_offer_key(item): item["id"] for item in old if "id" in item}
    kept = []
    for item in new:
        if isinstance(item, dict) and "id" not in item and _offer_key(item) in by_offer:
            item = {**item, "id": by_offer.pop(_offer_key(item))}
        kept.append(item)
    return kept


def _offer_key(item: dict[str, Any]) -> str:
    offer = item.get("offer") if isinstance(item.get("offer"), dict) else {}
    return str(offer.get("externalId") or offer.get("id") or offer.get("name") or item.get("productName") or "")


def _item_entries(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    before = {item["id"]: item for item in old}
    after = {item["id"]: item for item in new}
    entries: list[tuple[str, Any, Any]] = []
    for item_id in sorted(set(before) | set(after)):
        was, now = before.get(item_id), after.get(item_id)
        if was is None or now is None:
            entries.append(("order_product", copy.deepcopy(was), copy.deepcopy(now)))
            continue
        # the parts objects.xml names; any other changed part under its snake_case [inferred]
        entries += [(f"order_product.{ITEM_FIELDS.get(key) or _snake(key)}", was.get(key), now.get(key))
                    for key in sorted(set(was) | set(now), key=_item_order)
                    if key != "id" and was.get(key) != now.get(key)]
    return entries


def _code(value: Any) -> dict[str, Any] | None:
    return None if value is None else {"code": value}


def _wrap(key: str, value: Any) -> Any:
    """History values: dictionary fields as {code}, the manager as {id}, the rest as is."""
    if value is None:
        return None
    if key in CODE_FIELDS:
        return {"code": value}
    if key == "managerId":
        return {"id": value}
    return copy.deepcopy(value)
