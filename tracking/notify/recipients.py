"""Who hears about what, from settings. Nothing configured means nothing is queued for that audience."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tracking.settings import Settings, get_settings


@dataclass(frozen=True)
class Recipient:
    channel: str  # email | webhook
    address: str


def navigators(settings: Settings | None = None) -> list[Recipient]:
    settings = settings or get_settings()
    return _present(("email", settings.navigator_email), ("webhook", settings.alert_webhook_url))


def escalation(settings: Settings | None = None) -> list[Recipient]:
    """The navigator lead / medical director, for level 2-3 alerts and stalled prior films."""
    settings = settings or get_settings()
    return _present(
        ("email", settings.escalation_email or settings.navigator_email), ("webhook", settings.alert_webhook_url)
    )


def patient_messaging(settings: Settings | None = None) -> list[Recipient]:
    settings = settings or get_settings()
    return _present(("webhook", settings.patient_messaging_webhook_url))


def for_alert_level(level: int, settings: Settings | None = None) -> list[Recipient]:
    return navigators(settings) if level <= 1 else escalation(settings)


# Outside facilities we send to ourselves; the others (fax, phone, post) become navigator tasks.
# SQL that decides this takes the list as the bind parameter :automatic_channels.
AUTOMATIC_FACILITY_CHANNELS = ("email", "webhook")


def as_rows(found: list[Recipient], **extra: object) -> list[dict]:
    """Recipients as rows for set-based SQL: channel, address and any extra columns."""
    return [{"channel": person.channel, "address": person.address, **extra} for person in found]


def as_json(found: list[Recipient], **extra: object) -> str:
    """Recipients for jsonb_to_recordset in set-based SQL."""
    return json.dumps(as_rows(found, **extra))


def _present(*pairs: tuple[str, str | None]) -> list[Recipient]:
    return [Recipient(channel, address) for channel, address in pairs if address]
