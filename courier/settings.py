"""The courier's settings (RetailCRM and MeaSoft), read from the kernel's Env."""

from __future__ import annotations

from dataclasses import dataclass, field

from maorders.settings import Env


@dataclass(frozen=True)
class CourierSettings:
    retailcrm_url: str
    retailcrm_api_key: str = field(repr=False)
    retailcrm_site: str
    measoft_url: str
    measoft_login: str
    measoft_password: str = field(repr=False)
    measoft_extra: str
    measoft_stream_id: int | None
    send_statuses: tuple[str, ...]
    delivery_types: tuple[str, ...]
    status_map: dict[str, str]
    cod_payment_types: tuple[str, ...]
    paytype_map: dict[str, str]
    payment_status: str | None
    sync_payments: bool


def read(env: Env) -> CourierSettings:
    stream = env.optional("MEASOFT_STREAM_ID")
    return CourierSettings(
        retailcrm_url=env.url("RETAILCRM_URL"),
        retailcrm_api_key=env.text("RETAILCRM_API_KEY"),
        retailcrm_site=env.text("RETAILCRM_SITE"),
        measoft_url=env.url("MEASOFT_URL", "https://home.courierexe.ru/api/"),
        measoft_login=env.text("MEASOFT_LOGIN"),
        measoft_password=env.text("MEASOFT_PASSWORD"),
        measoft_extra=env.text("MEASOFT_EXTRA"),
        measoft_stream_id=env.integer("MEASOFT_STREAM_ID", 0, 100, 10000) if stream else None,
        send_statuses=env.items("COURIER_SEND_STATUSES", "SentMeaSoft"),
        delivery_types=env.items("COURIER_DELIVERY_TYPES", "outcity,incity"),
        status_map=env.mapping("COURIER_STATUS_MAP", "COMPLETE=complete,CANCELED=cancel-other"),
        cod_payment_types=env.items("COURIER_COD_PAYMENT_TYPES", "cash"),
        paytype_map=env.mapping("COURIER_PAYTYPE_MAP", "CASH=cash,CARD=bank-card"),
        payment_status=env.optional("COURIER_PAYMENT_STATUS"),
        sync_payments=env.flag("COURIER_SYNC_PAYMENTS", False),
    )
