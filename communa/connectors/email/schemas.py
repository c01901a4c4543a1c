"""The email connector's settings, and the stored payload of one mail as normalize reads it back.

The payload is what `parse.parse_message` builds at fetch time (JSON, one per mail); these models only read
it, ignoring keys they do not know, so that payloads stored by an older version stay readable.
"""

from __future__ import annotations

import ipaddress
import re
from email.utils import parseaddr
from enum import StrEnum

from django.utils.translation import gettext, gettext_noop
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from communa.connectors.base import ConnectorConfig

HOST_NAME = re.compile(r"^\w(?:[\w.-]*\w)?$")
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class Security(StrEnum):
    """How the connection to the mail server is protected."""

    SSL = "ssl"
    STARTTLS = "starttls"
    NONE = "none"

    @property
    def label(self) -> str:
        labels = {
            Security.SSL: gettext_noop("SSL/TLS (IMAP port 993, SMTP port 465)"),
            Security.STARTTLS: gettext_noop("STARTTLS (IMAP port 143, SMTP port 587)"),
            Security.NONE: gettext_noop("None — only for a server on this machine (testing)"),
        }
        return gettext(labels[self])


def is_loopback(host: str) -> bool:
    """True for this machine's own addresses, where an unencrypted connection never crosses a network."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _address(value: str) -> str:
    _name, address = parseaddr(value)
    if not address or "@" not in address or address != value.strip() or " " in address:
        raise ValueError(gettext("enter an email address, like support@example.org"))
    return address


class EmailConfig(ConnectorConfig):
    imap_host: str = Field(
        max_length=255,
        title=gettext_noop("IMAP server"),
        description=gettext_noop("The incoming mail server, as in your mail app's settings."),
        examples=["imap.example.org"],
    )
    imap_port: int = Field(default=993, ge=1, le=65535, title=gettext_noop("IMAP port"))
    imap_security: Security = Field(
        default=Security.SSL,
        title=gettext_noop("IMAP security"),
        description=gettext_noop(
            "SSL/TLS or STARTTLS; the certificate is always checked. None sends the password in clear and is"
            " only accepted for a server on this machine (testing)."
        ),
    )
    username: str = Field(
        max_length=255,
        title=gettext_noop("Username"),
        description=gettext_noop("The mailbox's login, usually its full address."),
        examples=["support@example.org"],
    )
    password: SecretStr = Field(
        title=gettext_noop("Password"),
        description=gettext_noop("For Gmail, Fastmail, Yahoo, iCloud: an app password, not the account password."),
    )
    folder: str = Field(
        default="INBOX",
        max_length=255,
        title=gettext_noop("Folder"),
        description=gettext_noop("The folder to read; subfolders are written with the server's separator."),
    )
    smtp_host: str = Field(
        max_length=255,
        title=gettext_noop("SMTP server"),
        description=gettext_noop("The outgoing mail server, used to send replies."),
        examples=["smtp.example.org"],
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, title=gettext_noop("SMTP port"))
    smtp_security: Security = Field(
        default=Security.STARTTLS,
        title=gettext_noop("SMTP security"),
        description=gettext_noop("As for IMAP: None is only accepted for a server on this machine (testing)."),
    )
    smtp_username: str = Field(
        default="",
        max_length=255,
        title=gettext_noop("SMTP username"),
        description=gettext_noop("Leave empty to use the IMAP username."),
    )
    smtp_password: SecretStr | None = Field(
        default=None,
        title=gettext_noop("SMTP password"),
        description=gettext_noop("Leave empty to use the IMAP password."),
    )
    from_address: str = Field(
        max_length=320,
        title=gettext_noop("From address"),
        description=gettext_noop("The mailbox's own address: replies are sent from it, and a copy comes back to it."),
        examples=["support@example.org"],
    )
    from_name: str = Field(
        default="",
        max_length=100,
        title=gettext_noop("From name"),
        description=gettext_noop("The name recipients see, e.g. your community's name."),
    )
    reply_to: str = Field(
        default="",
        max_length=320,
        title=gettext_noop("Reply-To"),
        description=gettext_noop("Where answers to replies should go, when not to the From address."),
    )
    idle_seconds: int = Field(
        default=25,
        ge=0,
        le=60,  # the worker's listener lease (90 s) must outlast one wait
        title=gettext_noop("Wait for new mail (seconds)"),
        description=gettext_noop("How long one read waits on the server for new mail (IMAP IDLE)."),
    )
    history_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        title=gettext_noop("History (days)"),
        description=gettext_noop("The first read takes mail received in this many days; 0 takes the whole folder."),
    )

    @field_validator("imap_host", "smtp_host")
    @classmethod
    def _host(cls, value: str) -> str:
        bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
        try:
            return str(ipaddress.ip_address(bare))
        except ValueError:
            pass
        if not HOST_NAME.match(value):
            raise ValueError(gettext("enter a host name, like imap.example.org (no scheme, no port)"))
        return value

    @field_validator("from_address")
    @classmethod
    def _from_address(cls, value: str) -> str:
        return _address(value)

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, value: str) -> str:
        return _address(value) if value else ""

    @field_validator("folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not value or any(c in value for c in "\r\n\x00"):
            raise ValueError(gettext("enter a folder name, like INBOX"))
        return value

    @model_validator(mode="after")
    def _encrypted_off_this_machine(self) -> EmailConfig:
        for host, security, what in (
            (self.imap_host, self.imap_security, "IMAP"),
            (self.smtp_host, self.smtp_security, "SMTP"),
        ):
            if security is Security.NONE and not is_loopback(host):
                raise ValueError(
                    gettext("%(what)s without encryption is only allowed for a server on this machine") % {"what": what}
                )
        return self

    @property
    def smtp_login(self) -> tuple[str, str]:
        """The SMTP credentials: their own, or the IMAP ones when left empty."""
        password = self.smtp_password.get_secret_value() if self.smtp_password else ""
        return (self.smtp_username or self.username, password or self.password.get_secret_value())

    @property
    def domain(self) -> str:
        return self.from_address.rsplit("@", 1)[-1].lower()


# --- the stored payload ------------------------------------------------------------------------------


class PayloadModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Address(PayloadModel):
    name: str = ""
    address: str


class Headers(PayloadModel):
    subject: str = ""
    date: str = ""
    message_id: str = ""
    from_: list[Address] = Field(default_factory=list, alias="from")
    sender: list[Address] = Field(default_factory=list)
    to: list[Address] = Field(default_factory=list)
    cc: list[Address] = Field(default_factory=list)
    reply_to: list[Address] = Field(default_factory=list)
    in_reply_to: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    auto_submitted: str = ""
    precedence: str = ""
    x_autoreply: str = ""
    x_autorespond: str = ""
    list_id: str = ""
    content_language: str = ""
    return_path: str = ""


class Attachment(PayloadModel):
    filename: str = ""
    content_type: str = "application/octet-stream"
    size: int = 0
    inline: bool = False


class DeliveryStatus(PayloadModel):
    recipient: str = ""
    action: str = ""
    status: str = ""
    diagnostic: str = ""


class EmailPayload(PayloadModel):
    message_id: str
    folder: str = ""
    uid: int = 0
    internal_date: str = ""
    size: int = 0
    truncated: bool = False
    headers: Headers = Field(default_factory=Headers)
    text: str = ""
    html: str = ""
    text_truncated: bool = False
    html_truncated: bool = False
    attachments: list[Attachment] = Field(default_factory=list)
    content_type: str = ""
    report_type: str = ""
    delivery_status: list[DeliveryStatus] = Field(default_factory=list)
