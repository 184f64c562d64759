"""Configuration from the environment (and an optional .env file)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracking.notify.contacts import InvalidContact, validate_email, validate_region, validate_webhook_url

REPO_ROOT = Path(__file__).resolve().parent.parent
ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s|]+")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "WORKUP_DATABASE_URL"),
        description="postgresql+psycopg://user:password@host:port/db; unset = embedded PostgreSQL",
    )
    workup_home: Path = Field(default=Path(".workup"), validation_alias="WORKUP_HOME")
    pathways_dir: Path = Field(default=REPO_ROOT / "config" / "pathways", validation_alias="WORKUP_PATHWAYS_DIR")
    default_pathway: str = Field(default="calcifications", validation_alias="WORKUP_DEFAULT_PATHWAY")
    pool_size: int = Field(default=5, validation_alias="WORKUP_DB_POOL_SIZE")
    actor: str = Field(default="cli", validation_alias="WORKUP_ACTOR")
    base_url: str = Field(default="http://127.0.0.1:8000", validation_alias="WORKUP_BASE_URL")

    # Letters (tracking/letters): the templates a centre edits, and the letterhead on every letter.
    letters_dir: Path = Field(default=REPO_ROOT / "config" / "letters", validation_alias="WORKUP_LETTERS_DIR")
    # HL7 v2 from the RIS (tracking/hl7): the site's codes, senders and patient identifier authority.
    hl7_mapping: Path = Field(
        default=REPO_ROOT / "config" / "interfaces" / "hl7.yaml", validation_alias="WORKUP_HL7_MAPPING"
    )

    # Reports (tracking/reports): outcomes.yaml, the outcomes audit's benchmarks and in-situ diagnoses.
    reports_dir: Path = Field(default=REPO_ROOT / "config" / "reports", validation_alias="WORKUP_REPORTS_DIR")
    centre_name: str = Field(
        default="Riverside Breast Imaging Centre", min_length=1, max_length=200, validation_alias="WORKUP_CENTRE_NAME"
    )
    # Lines separated by newlines or semicolons: "100 Harbour Street; Springfield, MA 01101".
    centre_address: str = Field(
        default="100 Harbour Street; Springfield, MA 01101",
        min_length=1,
        max_length=500,
        validation_alias="WORKUP_CENTRE_ADDRESS",
    )
    centre_phone: str = Field(
        default="+1 (555) 010-0100", min_length=1, max_length=40, validation_alias="WORKUP_CENTRE_PHONE"
    )
    # A produced letter (other than the lay summary, which has its step's due time) not marked sent
    # this many days after it was produced raises a letter_unsent alert on its case.
    letter_send_within_days: int = Field(default=3, ge=0, le=365, validation_alias="WORKUP_LETTER_SEND_WITHIN_DAYS")

    # Outbound email (standard-library SMTP client).
    smtp_host: str = Field(default="127.0.0.1", validation_alias="WORKUP_SMTP_HOST")
    smtp_port: int = Field(default=25, validation_alias="WORKUP_SMTP_PORT")
    smtp_starttls: bool = Field(default=False, validation_alias="WORKUP_SMTP_STARTTLS")
    smtp_ssl: bool = Field(default=False, validation_alias="WORKUP_SMTP_SSL")
    smtp_user: str | None = Field(default=None, validation_alias="WORKUP_SMTP_USER")
    smtp_password: str | None = Field(default=None, validation_alias="WORKUP_SMTP_PASSWORD")
    smtp_timeout_seconds: float = Field(default=10.0, validation_alias="WORKUP_SMTP_TIMEOUT_SECONDS")
    mail_from: str = Field(default="breast-workup@localhost", validation_alias="WORKUP_MAIL_FROM")
    # Extra certificate authorities (a PEM file) trusted when verifying the SMTP server's certificate.
    smtp_ca_file: Path | None = Field(default=None, validation_alias="WORKUP_SMTP_CA_FILE")
    # Letters by fax go through an email-to-fax gateway: "{number}@fax.example.org", the number's digits substituted.
    fax_gateway: str | None = Field(default=None, validation_alias="WORKUP_FAX_GATEWAY")

    # Who hears about what. Empty means "not configured": alerts still show in the CLI and pages.
    navigator_email: str | None = Field(default=None, validation_alias="WORKUP_NAVIGATOR_EMAIL")
    escalation_email: str | None = Field(default=None, validation_alias="WORKUP_ESCALATION_EMAIL")
    alert_webhook_url: str | None = Field(default=None, validation_alias="WORKUP_ALERT_WEBHOOK_URL")
    patient_messaging_webhook_url: str | None = Field(
        default=None, validation_alias="WORKUP_PATIENT_MESSAGING_WEBHOOK_URL"
    )
    webhook_timeout_seconds: float = Field(default=10.0, validation_alias="WORKUP_WEBHOOK_TIMEOUT_SECONDS")
    # Fax and phone contacts written without a + country prefix are read in this region (stored as E.164).
    default_phone_region: str = Field(default="US", validation_alias="WORKUP_DEFAULT_PHONE_REGION")
    # The centre's time zone: every date a person sees or types is in it (tracking/centre_time.py).
    timezone: str = Field(default="UTC", validation_alias="WORKUP_TIMEZONE")

    # FHIR R4 out (/fhir): the system URI of the patients' MRN identifiers (the assigning authority's,
    # e.g. urn:oid:2.16.840.1.113883.3.999.1 or https://hospital.example/mrn). Unset: <base URL>/fhir/sid/mrn.
    fhir_mrn_system: str | None = Field(default=None, max_length=300, validation_alias="WORKUP_FHIR_MRN_SYSTEM")

    # Outbox delivery: exponential backoff, then dead-letter.
    delivery_max_attempts: int = Field(default=8, ge=1, validation_alias="WORKUP_DELIVERY_MAX_ATTEMPTS")
    delivery_backoff_seconds: int = Field(default=60, ge=1, validation_alias="WORKUP_DELIVERY_BACKOFF_SECONDS")
    delivery_backoff_max_seconds: int = Field(
        default=6 * 3600, ge=1, validation_alias="WORKUP_DELIVERY_BACKOFF_MAX_SECONDS"
    )

    # A case may be opened as of its exam (`occurred_at`, due dates count from it) at most this many days back.
    opening_max_age_days: int = Field(default=365, ge=1, le=36_500, validation_alias="WORKUP_OPENING_MAX_AGE_DAYS")

    # A case whose run request has waited this long (or failed) gets a run_stalled alert from the sweep.
    run_stalled_after_minutes: int = Field(default=15, ge=1, validation_alias="WORKUP_RUN_STALLED_AFTER_MINUTES")
    # A film request or patient letter still unsent this long raises a delivery alert on its case.
    delivery_delayed_after_minutes: int = Field(
        default=120, ge=1, le=10_080, validation_alias="WORKUP_DELIVERY_DELAYED_AFTER_MINUTES"
    )

    # Timeliness figures the operations page measures against (clinical-rules.md, "Timeliness").
    napbc_imaging_to_biopsy_days: int = Field(default=7, ge=1, validation_alias="WORKUP_NAPBC_IMAGING_TO_BIOPSY_DAYS")
    napbc_observed_median_days: str = Field(default="8-9", validation_alias="WORKUP_NAPBC_OBSERVED_MEDIAN_DAYS")
    cdc_finding_to_diagnosis_days: int = Field(
        default=60, ge=1, validation_alias="WORKUP_CDC_FINDING_TO_DIAGNOSIS_DAYS"
    )
    cdc_max_share_over: float = Field(default=0.25, gt=0, le=1, validation_alias="WORKUP_CDC_MAX_SHARE_OVER")

    # Embedded scheduler (APScheduler). Off when Prefect deployments run the flows (scaled out).
    scheduler_enabled: bool = Field(default=True, validation_alias="WORKUP_SCHEDULER_ENABLED")
    sweep_every_seconds: int = Field(default=300, ge=1, validation_alias="WORKUP_SWEEP_EVERY_SECONDS")
    # The sweep reads only what changed since it last ran; once this long after its last full pass it
    # reads everything again (ADR 12). Whichever scheduler runs the sweep, this is when.
    sweep_full_every_hours: int = Field(default=24, ge=1, le=24 * 366, validation_alias="WORKUP_SWEEP_FULL_EVERY_HOURS")
    reminders_every_seconds: int = Field(default=900, ge=1, validation_alias="WORKUP_REMINDERS_EVERY_SECONDS")
    delivery_every_seconds: int = Field(default=60, ge=1, validation_alias="WORKUP_DELIVERY_EVERY_SECONDS")
    case_runs_every_seconds: int = Field(default=15, ge=1, validation_alias="WORKUP_CASE_RUNS_EVERY_SECONDS")
    # `workup worker`: claimer passes side by side when that many cases are due (each case its own flow run).
    case_runs_at_once: int = Field(default=4, ge=1, le=32, validation_alias="WORKUP_CASE_RUNS_AT_ONCE")
    misfire_grace_seconds: int = Field(default=60, ge=1, validation_alias="WORKUP_MISFIRE_GRACE_SECONDS")

    # HL7 v2 from the RIS (tracking/hl7): the MLLP listener `workup serve` starts when a port is set,
    # the largest message it reads, and how long the message log keeps a message (queued ones stay).
    hl7_host: str = Field(default="127.0.0.1", min_length=1, validation_alias="WORKUP_HL7_HOST")
    hl7_port: int | None = Field(default=None, ge=1, le=65535, validation_alias="WORKUP_HL7_PORT")
    hl7_max_message_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, le=1024**3, validation_alias="WORKUP_HL7_MAX_MESSAGE_BYTES"
    )
    # Intake processes behind one listener (0: threads in the listener's own process).
    hl7_processes: int = Field(default=2, ge=0, le=64, validation_alias="WORKUP_HL7_PROCESSES")
    hl7_retention_days: int = Field(default=90, ge=1, le=36_500, validation_alias="WORKUP_HL7_RETENTION_DAYS")

    # Sign-in and sessions. X-Forwarded-For is believed only from these proxies (addresses or CIDRs,
    # comma- or space-separated); none by default, so the client address is the connection's peer.
    trusted_proxies: str = Field(default="", validation_alias="WORKUP_TRUSTED_PROXIES")
    session_idle_minutes: int = Field(default=30, ge=1, validation_alias="WORKUP_SESSION_IDLE_MINUTES")
    session_hours: int = Field(default=12, ge=1, validation_alias="WORKUP_SESSION_HOURS")

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _proxies_setting(cls, value: str) -> str:
        try:
            parse_networks(value)
        except ValueError as error:
            raise PydanticCustomError("invalid_setting", "{message}", {"message": str(error)}) from None
        return value

    @field_validator("fhir_mrn_system", mode="before")
    @classmethod
    def _uri_setting(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = str(value).strip()
        if not ABSOLUTE_URI.fullmatch(text):
            raise PydanticCustomError(
                "invalid_setting", "{message}",
                {"message": f"{text!r} is not an absolute URI without spaces or '|' (e.g. urn:oid:1.2.3 or https://...)"},
            )  # fmt: skip
        return text

    @property
    def mrn_system(self) -> str:
        """The system URI of the MRN identifiers /fhir serves (WORKUP_FHIR_MRN_SYSTEM, else under the base URL)."""
        return self.fhir_mrn_system or f"{self.base_url.rstrip('/')}/fhir/sid/mrn"

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return parse_networks(self.trusted_proxies)

    # Recipients are checked with the functions that check facility contacts, so a bad one fails at start.
    # An empty recipient means "not configured", like an unset one.
    @field_validator("mail_from", "navigator_email", "escalation_email", mode="before")
    @classmethod
    def _email_setting(cls, value: object, info: ValidationInfo) -> object:
        if value is None or (info.field_name != "mail_from" and isinstance(value, str) and not value.strip()):
            return None
        return _setting_checked(lambda: validate_email(str(value), require_dot=False, what=""))

    @field_validator("alert_webhook_url", "patient_messaging_webhook_url", mode="before")
    @classmethod
    def _webhook_setting(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _setting_checked(lambda: validate_webhook_url(str(value), what=""))

    @field_validator("smtp_ca_file", mode="before")
    @classmethod
    def _ca_file_setting(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        import ssl

        try:
            ssl.create_default_context().load_verify_locations(cafile=str(value))
        except (OSError, ValueError) as error:  # missing, unreadable, or not PEM certificates
            message = f"{value!r} is not a readable file of PEM certificates ({type(error).__name__})"
            raise PydanticCustomError("invalid_setting", "{message}", {"message": message}) from None
        return value

    @field_validator("fax_gateway", mode="before")
    @classmethod
    def _fax_gateway_setting(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        from tracking.notify.fax import validate_gateway

        return _setting_checked(lambda: validate_gateway(str(value)))

    @field_validator("hl7_port", mode="before")
    @classmethod
    def _optional_port(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value  # empty: no listener

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone_setting(cls, value: object) -> object:
        from tracking.centre_time import validate_timezone

        return _setting_checked(lambda: validate_timezone(str(value)))

    @field_validator("default_phone_region", mode="before")
    @classmethod
    def _region_setting(cls, value: object) -> object:
        return _setting_checked(lambda: validate_region(str(value)))


def parse_networks(value: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """'10.0.0.1, 192.168.0.0/16' as networks (an address is a network of one)."""
    networks = []
    for item in re.split(r"[\s,]+", value.strip()):
        if item:
            try:
                networks.append(ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network (CIDR)") from None
    return tuple(networks)


def _setting_checked(check: Callable[[], str]) -> str:
    """Run a contact check on a setting; the error's place names the environment variable."""
    try:
        return check()
    except InvalidContact as error:
        raise PydanticCustomError("invalid_setting", "{message}", {"message": str(error)}) from None


@lru_cache
def get_settings() -> Settings:
    return Settings()
