"""Sending one mail over SMTP (smtplib, a timeout on every socket operation), and building a reply.

Failures become TransientError (try again later: the server is unreachable, busy, or answered 4xx) or
PermanentError (5xx: bad credentials, an address the server refuses, a TLS setup that cannot work).
"""

from __future__ import annotations

import base64
import hashlib
import re
import smtplib
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from communa.connectors.email.schemas import Security
from communa.core.http import PermanentError, TransientError

MAX_REFERENCES = 20  # the root and the most recent ones, as RFC 5322 §3.6.4 suggests trimming
MAX_REFERENCES_CHARS = 900
# Lines up to RFC 5322's hard limit: Python folds a long References header before its first id otherwise.
POLICY = SMTP.clone(max_line_length=998)
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|r|sv|vs|antw|ответ|отв|rif|res)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def reply_message_id(idempotency_key: str, domain: str) -> str:
    """The Message-ID of a reply, without angle brackets: the same outbox key always gives the same one."""
    return f"communa-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]}@{domain}"


def reply_subject(subject: str) -> str:
    """ "Re: " once, whatever reply prefixes (Re, AW, R, SV, Ответ, …) the subject already carries."""
    stripped = _REPLY_PREFIX.sub("", subject).strip()
    return f"Re: {stripped}" if stripped else "Re:"


def references_for(references: Sequence[str], answered: str) -> list[str]:
    """The References of a reply: the answered mail's References, then its own id, trimmed at the middle.

    The root and the latest ids are what threading needs; the header also stays on one line (see POLICY).
    """
    chain = list(dict.fromkeys([*references, answered]))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    while len(chain) > 2 and sum(len(ref) + 3 for ref in chain) > MAX_REFERENCES_CHARS:
        del chain[1]
    return chain


def build_reply(
    *,
    from_address: str,
    from_name: str,
    reply_to: str,
    to: tuple[str, str],
    subject: str,
    answered: str,
    references: Sequence[str],
    message_id: str,
    text: str,
    now: datetime,
) -> EmailMessage:
    """A text/plain UTF-8 reply, threaded under `answered` (a Message-ID without brackets)."""
    message = EmailMessage(policy=SMTP)
    # Quoted-printable keeps the text readable at the source and safe on 7-bit relays; it is encoded now,
    # under the SMTP policy's 78 columns (quoted-printable lines must stay short)...
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    # ... while the headers are written out later under POLICY.
    message.policy = POLICY
    message["From"] = formataddr((from_name, from_address)) if from_name else from_address
    message["To"] = formataddr(to) if to[0] else to[1]
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = reply_subject(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<{message_id}>"
    message["In-Reply-To"] = f"<{answered}>"
    message["References"] = " ".join(f"<{ref}>" for ref in references_for(references, answered))
    # Written by a person (RFC 3834): answering machines may answer it, and Communa never answers them.
    message["Auto-Submitted"] = "no"
    return message


class SmtpSender:
    """Opens, authenticates and sends on one SMTP connection per call."""

    def __init__(
        self, *, host: str, port: int, security: Security, username: str, password: str, timeout: float
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self._password = username, password
        self.timeout = timeout

    def send(self, message: EmailMessage, *, sender: str, recipient: str, copies: Sequence[str] = ()) -> dict[str, str]:
        """Send `message` from the envelope `sender` to `recipient`, and to `copies` when they are accepted.

        Nothing is sent unless the server accepts `recipient`. Return the copies it refused (address → why);
        raise TransientError or PermanentError when nothing was sent.
        """
        where = f"{self.host}:{self.port}"
        try:
            with self._connect() as smtp:
                self._authenticate(smtp)
                return self._transaction(smtp, message, sender, recipient, copies)
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(f"the SMTP server {where} has a certificate that cannot be trusted: {exc}") from exc
        except ssl.SSLError as exc:
            raise PermanentError(
                f"TLS with the SMTP server {where} failed ({exc}): check the port and security"
                " (465 is SSL/TLS, 587 is STARTTLS)"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refused(exc.recipients) from exc
        except smtplib.SMTPResponseException as exc:
            raise _response_error(exc, where) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentError(f"the SMTP server {where} cannot do this: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"could not send through the SMTP server {where}: {exc}") from exc

    @staticmethod
    def _transaction(
        smtp: smtplib.SMTP, message: EmailMessage, sender: str, recipient: str, copies: Sequence[str]
    ) -> dict[str, str]:
        """MAIL, RCPT, DATA by hand: unlike sendmail(), stop before DATA when the one recipient is refused."""
        code, answer = smtp.mail(sender)
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPSenderRefused(code, answer, sender)
        code, answer = smtp.rcpt(recipient)
        if code not in (250, 251):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused({recipient: (code, answer)})
        refused = {}
        for copy in copies:
            code, answer = smtp.rcpt(copy)
            if code not in (250, 251):
                refused[copy] = f"{code} {answer.decode('utf-8', 'replace')}"
        code, answer = smtp.data(message.as_bytes())
        if code != 250:
            raise smtplib.SMTPDataError(code, answer)
        return refused

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.security is Security.SSL:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security is Security.STARTTLS:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                smtp.close()
                raise PermanentError(
                    f"the SMTP server {self.host}:{self.port} does not offer STARTTLS:"
                    " choose SSL/TLS (usually port 465)"
                )
            smtp.starttls(context=context)
        return smtp

    def _authenticate(self, smtp: smtplib.SMTP) -> None:
        if not self.username:
            return
        smtp.ehlo_or_helo_if_needed()
        if not smtp.has_extn("auth"):
            if self.security is Security.NONE:
                return  # a local relay that trusts this machine
            raise PermanentError(f"the SMTP server {self.host}:{self.port} offers no login (AUTH)")
        credentials = f"{self.username}{self._password}"
        if credentials.isascii():
            smtp.login(self.username, self._password)
            return
        # smtplib encodes credentials as ASCII; SASL PLAIN itself carries UTF-8, so send it by hand.
        token = base64.b64encode(f"\0{self.username}\0{self._password}".encode()).decode("ascii")
        code, answer = smtp.docmd("AUTH", f"PLAIN {token}")
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, answer)


def _response_error(exc: smtplib.SMTPResponseException, where: str) -> TransientError | PermanentError:
    answer = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PermanentError(
            f"the SMTP server {where} refused the login: {exc.smtp_code} {answer} (check the SMTP username and"
            " password; some providers need an app password)"
        )
    sender = exc.sender if isinstance(exc, smtplib.SMTPSenderRefused) else ""
    what = f"refused the sender {sender}" if sender else "refused the mail"
    message = f"the SMTP server {where} {what}: {exc.smtp_code} {answer}"
    return PermanentError(message) if 500 <= exc.smtp_code < 600 else TransientError(message)


def _refused(recipients: dict[str, tuple[int, bytes]]) -> TransientError | PermanentError:
    details = "; ".join(
        f"{address}: {code} {answer.decode('utf-8', 'replace')}" for address, (code, answer) in recipients.items()
    )
    if all(500 <= code < 600 for code, _answer in recipients.values()):
        return PermanentError(f"the SMTP server refused the recipient: {details}")
    return TransientError(f"the SMTP server cannot take the recipient now: {details}")
