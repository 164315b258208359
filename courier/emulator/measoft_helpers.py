"""The MeaSoft emulator's test helpers: act as the courier service would (move a parcel,
another integration's order, an archived order of a past year) and inject errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from courier.emulator.measoft_tables import DELIVERED, MEASOFT_METHODS, STATUS_TITLES
from courier.emulator.measoft_tables import now as _now


class MeasoftHelpers:
    """Mixed into `MeasoftEmulator`; every helper takes the emulator's lock."""

    def foreign_order(self, orderno: str, phone: str = "+79990000000", created: str | None = None
                      ) -> dict[str, Any]:
        """An order another integration (or the cabinet) made under `orderno`; `created`
        ("YYYY-MM-DD HH:MM:SS") in a past year puts it in the archive, where the number is free."""
        with self.lock:
            node = ET.fromstring(f'<order orderno="{orderno}"><receiver><town>Москва</town>'
                                 f'<address>ул. Другая, 5</address><phone>{phone}</phone>'
                                 '<person>Сидоров</person></receiver></order>')
            saved = self.orders.pop(orderno, None)
            order = self._store_order(node, orderno)
            if created is not None:
                order["created"] = created
                for entry in order["history"]:
                    entry["eventtime"] = created
            if created is not None and created[:4] < _now()[0][:4]:
                self.archive.append(self.orders.pop(orderno))
                if saved is not None:
                    self.orders[orderno] = saved
            return order

    def change_status(self, order: dict[str, Any], code: str) -> None:
        """Move any order (an archived one too) as the courier service would."""
        with self.lock:
            self._change_status(order, code, STATUS_TITLES.get(code, ""))

    def fail_next(self, method: str, code: int, level: str = "root") -> None:
        """Answer the next `method` call with error `code` at root, child or item level."""
        if method not in MEASOFT_METHODS:
            raise ValueError(f"unknown method {method!r}")
        if level not in ("root", "child", "item"):
            raise ValueError(f"unknown level {level!r}")
        if level == "item" and method not in ("neworder", "editorder", "cancelorder"):
            raise ValueError(f"{method} has no per-item results")
        with self.lock:
            self._injected[method] = (int(code), level)

    def proxy_answers(self, status: int, times: int = 1) -> None:
        """The next `times` requests get HTTP `status` with nginx's HTML page, whatever they
        carry: a proxy in front of MeaSoft, or a wrong path, never MeaSoft itself (it answers
        200 for every error of its own: research 1.9; semivan/measoft-api-client `src/Api.php`
        reads any other status as a failed request with no XML)."""
        with self.lock:
            self.proxy_status, self.proxy_left = int(status), int(times)

    def set_status(self, orderno: str, code: str, title: str | None = None,
                   paytype: str | None = None, price: Any = None,
                   returns: dict[str, Any] | None = None,
                   deliveredto: str | None = None) -> dict[str, Any]:
        """Move a parcel as the courier service would; every stream sees the change."""
        with self.lock:
            order = self.orders[orderno]
            if paytype is not None:
                order["paytype"] = paytype
            if price is not None:
                order["price"] = _num_text(price)
            for item in order["items"]:
                if returns and item.get("extcode") in returns:
                    item["returns"] = _num_text(returns[item["extcode"]])
            if deliveredto is None and code in DELIVERED:
                receiver = order["receiver"]
                deliveredto = receiver["person"] or receiver["company"]
            if deliveredto is not None:
                local = _now()[0]
                order["deliveredto"] = deliveredto
                order["delivereddate"], order["deliveredtime"] = local[:10], local[11:16]
            self._change_status(order, code, STATUS_TITLES.get(code, "") if title is None else title)
            return order


def _num_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)
