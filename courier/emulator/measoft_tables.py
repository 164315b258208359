"""MeaSoft's codes and words, as the emulator answers them: error tables, status titles,
the fields and values MeaSoft accepts (shared/research/courier_apis.md, real_services.md)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

MAX_XML_BYTES = 10 * 1024 * 1024
# (requests, seconds): MeaSoft wiki, API Documentation, «Fair Usage Policy» (rev. 11186): 150 a
# minute and 1,500 in 20 minutes per IP, 3,000 an hour per account (one account here)
FAIR_USAGE = ((150, 60.0), (1500, 1200.0), (3000, 3600.0))
MEASOFT_METHODS = ("neworder", "editorder", "statusreq", "commitlaststatus", "cancelorder")
ORDERING_METHODS = ("neworder", "editorder")

# Ordering error codes: English from the wiki table, Russian from MeaSoft's own 2014 class.
ORDER_ERRORS: dict[int, tuple[str, str]] = {
    0: ("OK", "Успешно"),
    1: ("Authorization error", "Ошибка авторизации"),
    2: ("Empty request", "Отправлен пустой запрос"),
    3: ("Order amount is set incorrectly", "Некорректно указана сумма заказа"),
    4: ("Order weight is set incorrectly", "Некорректный общий вес заказа"),
    5: ("Receiver's town not found", "Не найден город получатель"),
    6: ("Sender's town not found", "Не найден город отправитель"),
    7: ("Receiver's address not filled in", "Не заполнен адрес получателя"),
    8: ("Receiver's phone not filled in", "Не заполнен телефон получателя"),
    9: ("Receiver's contact name not filled in", "Не заполнено контактное имя получателя"),
    10: ("Receiver's company name not filled in", "Не заполнено название компании получателя"),
    11: ("Declared value is incorrect", "Некорректная сумма объявленной ценности"),
    12: ("Article number not found", "Артикул не найден"),
    13: ("Sender's company not filled in", "Не заполнено название компании отправителя"),
    14: ("Sender's contact name not filled in", "Не заполнено контактное имя отправителя"),
    15: ("Sender's phone not filled in", "Не заполнен телефон отправителя"),
    16: ("Sender's address not filled in", "Не заполнен адрес отправителя"),
    17: ("Order with this number already exists", "Заказ с таким номером уже существует"),
}
GENERAL_ERRORS: dict[int, tuple[str, str]] = {
    1: ("Invalid XML", "Неверный xml"),
    2: ("Empty request", "Отправлен пустой запрос"),
    11: ("Orders not found", "Заказы не найдены"),
    12: ("Invalid request date and time", "Неверные дата и время запроса"),
    13: ("mysql error", "Ошибка mysql"),
    14: ("Unknown function", "Неизвестная функция"),
    25: ("Authorization error", "Ошибка авторизации"),
    33: ("Connection error", "Ошибка соединения"),
}
CANCEL_ERRORS: dict[int, tuple[str, str]] = {
    0: ("OK", "Успешно"),
    52: ("order not found", "Заказ не найден"),
    53: ("order is in work, cannot be cancelled", "Заказ в работе, отмена невозможна"),
}
STATUS_TITLES = {
    "AWAITING_SYNC": "Ожидание синхронизации", "NEW": "Новый", "NEWPICKUP": "Создан забор",
    "PICKUP": "Забран у отправителя", "ACCEPTED": "Получен складом",
    "CONFIRM": "Согласована доставка", "UNCONFIRM": "Не удалось согласовать доставку",
    "DEPARTURING": "Планируется отправка", "DEPARTURE": "Отправлено со склада",
    "INVENTORY": "Инвентаризация", "PICKUPREADY": "Готов к выдаче",
    "DELIVERY": "Выдан курьеру на доставку", "COURIERDELIVERED": "Доставлен (предварительно)",
    "COURIERRETURN": "Курьер вернул на склад", "DATECHANGE": "Перенос",
    "COMPLETE": "Доставлен", "PARTIALLY": "Доставлен частично",
    "CANCELED": "Не доставлен (Возврат/Отмена)", "RETURNING": "Планируется возврат",
    "RETURNED": "Возвращен",
}
EDIT_ERRORS: dict[int, tuple[str, str]] = {
    52: ("order not found", "Заказ не найден"),
    53: ("order is in work, cannot be changed", "Заказ в работе, изменение невозможно"),
    56: ("editing orders is not allowed", "Изменение заказов не разрешено"),
}
CANCELLED_BY_CUSTOMER = "Отменен заказчиком"
CANCELLABLE = {"NEW", "AWAITING_SYNC"}
DELIVERED = {"COURIERDELIVERED", "COURIERPARTIALLY", "COMPLETE", "PARTIALLY"}
DONE_FILTERS: dict[str, Callable[[str], bool]] = {
    "ONLY_DONE": lambda code: code in {"COMPLETE", "PARTIALLY"},
    "ONLY_NOT_DONE": lambda code: code in {"CANCELED", "LOST"},
    "ONLY_NEW": lambda code: code in {"NEW", "AWAITING_SYNC"},
    "ONLY_DELIVERY": lambda code: code not in {
        "COMPLETE", "PARTIALLY", "CANCELED", "RETURNED", "LOST", "PARTLYRETURNED"},
}
PAYTYPES = {"CASH", "CARD", "NO", "OTHER"}
RECEIVER_FIELDS = ("company", "person", "phone", "zipcode", "town", "address", "pvz",
                   "date", "time_min", "time_max")
SENDER_FIELDS = ("company", "person", "phone", "town", "address", "date", "time_min", "time_max")


def now() -> tuple[str, str]:
    """(local, GMT) timestamps as MeaSoft writes them."""
    stamp = "%Y-%m-%d %H:%M:%S"
    return datetime.now().strftime(stamp), datetime.now(timezone.utc).strftime(stamp)
