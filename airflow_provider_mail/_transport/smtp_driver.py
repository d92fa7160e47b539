"""The SMTP driver: one transaction over ``smtplib``, each reply kept and read by its phase.

It connects (STARTTLS, implicit TLS or plain), authenticates, and drives MAIL, one RCPT per recipient
and DATA in two steps (the ``DATA`` command, then the content), so that a hang-up before the ``354``
is known to have queued nothing. Every reply and every library error is mapped through
:mod:`~airflow_provider_mail._transport.smtp_reply` into a classified
:class:`~airflow_provider_mail._transport.failures.AttemptFailed` or a named error carrying what went
out; whether to try again is decided by the retry policy, never here.

:class:`SmtpConnection` keeps one connection for many transactions, and opens a new one when the
relay closed it in between (an idle timeout, Exim's ``421 too many messages in this connection``).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from airflow_provider_mail._transport.failures import (
    AttemptFailed,
    FailureKind,
    is_tls_verification_failure,
    retold,
)
from airflow_provider_mail._transport.smtp_reply import (
    ReplyClass,
    SmtpPhase,
    classify_reply,
    recipients_verdict,
    went_out_after,
)
from airflow_provider_mail.exceptions import (
    NOTHING_WENT_OUT,
    SendOutcome,
    WentOut,
    XmailerConfigurationError,
    XmailerRecipientsDeferred,
    XmailerSmtpAuthError,
    XmailerSmtpError,
    XmailerSmtpRejected,
    XmailerTransportError,
)

_LEADING_DOT = re.compile(rb"(?m)^\.")
_CRLF = b"\r\n"


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach and log in to the relay.

    :param host: the relay host.
    :param port: the relay port.
    :param tls: ``"starttls"``, ``"ssl"`` (implicit TLS) or ``"none"``.
    :param timeout: seconds any one socket operation may take.
    :param username: the AUTH user.
    :param password: its password.
    :param ca_file: a CA bundle for the relay's certificate, if not the system's.
    :param verify: whether to verify the relay's certificate.
    :param redact: removes the connection's secrets from a text.
    """

    host: str
    port: int
    tls: str
    timeout: float
    username: str
    password: str = field(repr=False)
    ca_file: str | None = None
    verify: bool = True
    redact: Callable[[str], str] = str

    @property
    def relay(self) -> str:
        """``host:port``, for messages."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Envelope:
    """One message as SMTP carries it.

    :param mail_from: the envelope sender (a bare, validated address).
    :param recipients: every recipient (To, Cc and Bcc; bare, validated addresses).
    :param data: the message, bytes with CRLF line endings.
    :param message_id: its Message-ID, for what-went-out records.
    """

    mail_from: str
    recipients: Sequence[str]
    data: bytes
    message_id: str | None = None

    def __post_init__(self) -> None:
        # they go into command lines as they are: a line break would start a command of its own
        if any("\r" in address or "\n" in address for address in (self.mail_from, *self.recipients)):
            raise ValueError("an envelope address holds a line break")


@dataclass(frozen=True)
class Delivery:
    """What one transaction achieved.

    :param accepted: recipients the relay took.
    :param refused: recipient -> ``"code text"`` of each refusal.
    :param end_reply: the text of the end-of-DATA ``250`` reply (``None`` when nobody was accepted).
    """

    accepted: list[str]
    refused: dict[str, str]
    end_reply: str | None


class SmtpDriver:
    """Opens connections to the relay and runs transactions on them.

    :param settings: the relay and the login.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def connect(self) -> smtplib.SMTP:
        """A connected, TLS-protected (per the settings), authenticated client."""
        settings = self.settings
        try:
            if settings.tls == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=settings.timeout, context=self._tls_context()
                )
            else:
                client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        except (OSError, smtplib.SMTPException) as err:
            raise self._hang_up(
                SmtpPhase.CONNECT, f"could not reach the SMTP relay {settings.relay}", err
            ) from retold(err, settings.redact)
        try:
            client.ehlo()
            if settings.tls == "starttls":
                client.starttls(context=self._tls_context())
                client.ehlo()
            client.login(settings.username, settings.password)
        except smtplib.SMTPAuthenticationError as err:
            quit_quietly(client)
            text = settings.redact(reply_text(err.smtp_error))
            if classify_reply(err.smtp_code) is not ReplyClass.PERMANENT:  # 454: not now, try again
                raise self._refusal(SmtpPhase.AUTH, err.smtp_code, text) from None
            raise XmailerSmtpAuthError(
                f"the relay refused the login of {settings.username!r}: {err.smtp_code} {text}",
                smtp_code=err.smtp_code,
                smtp_text=text,
            ) from None
        except smtplib.SMTPNotSupportedError as err:
            quit_quietly(client)
            raise XmailerSmtpAuthError(f"the relay offers no AUTH on this channel: {err}") from None
        except (OSError, smtplib.SMTPException) as err:
            quit_quietly(client)
            raise self._hang_up(
                SmtpPhase.AUTH, f"the SMTP relay {settings.relay} failed before MAIL", err
            ) from None
        return client

    def transaction(self, client: smtplib.SMTP, envelope: Envelope) -> Delivery:
        """MAIL, RCPT for each recipient, DATA; the client is unusable after any exception.

        When the relay offers ``PIPELINING`` (RFC 2920; Exim does by default) MAIL, the RCPTs and DATA
        go out in one write and their replies are read in order: two round trips per message instead
        of three plus one per recipient. The replies mean the same either way.

        :param client: a connected client (from :meth:`connect`).
        :param envelope: the message.
        :raises AttemptFailed: ``NEVER_SENT`` for anything before the content was sent (a ``421``, a
            4xx, a hang-up); ``MAYBE_SENT`` when the end-of-DATA reply did not arrive.
        :raises XmailerSmtpRejected: a 5xx at MAIL, DATA or the end of DATA.
        """
        phase = SmtpPhase.MAIL
        # bare addresses, validated when the message was built: no re-parsing (smtplib.quoteaddr)
        commands = [
            f"mail FROM:<{envelope.mail_from}>",
            *(f"rcpt TO:<{recipient}>" for recipient in envelope.recipients),
            "data",
        ]
        pipelined = bool(client.has_extn("pipelining"))
        try:
            if pipelined:
                client.send("".join(f"{command}\r\n" for command in commands))
            self._expect(phase, *_reply(client, commands[0], pipelined))
            phase = SmtpPhase.RCPT
            accepted: list[str] = []
            refused: dict[str, str] = {}
            for recipient, command in zip(envelope.recipients, commands[1:-1], strict=True):
                code, reply = _reply(client, command, pipelined)
                kind = classify_reply(code)
                if kind is ReplyClass.POSITIVE:
                    accepted.append(recipient)
                elif kind is ReplyClass.CLOSING:  # the relay hangs up: this transaction is over
                    raise self._refusal(phase, code, reply)
                else:
                    refused[recipient] = f"{code} {reply_text(reply)}"
            verdict = recipients_verdict(len(accepted), refused)
            if not verdict.send_data:
                if pipelined:  # DATA went out too: the relay refuses it without recipients
                    code, _ = client.getreply()
                    if code == 354:  # a relay that accepts it anyway gets an empty message to refuse
                        client.send(b"." + _CRLF)
                        client.getreply()
                reset_quietly(client)
                if verdict.retry_later:
                    raise AttemptFailed(
                        FailureKind.NEVER_SENT,
                        XmailerRecipientsDeferred(
                            f"the relay {self.settings.relay} deferred every recipient for now: {refused}",
                            refused=refused,
                        ),
                    )
                return Delivery([], refused, None)
            phase = SmtpPhase.DATA
            self._expect(phase, *_reply(client, commands[-1], pipelined))
            phase = SmtpPhase.END_OF_DATA
            body = _LEADING_DOT.sub(b"..", envelope.data)
            if not body.endswith(_CRLF):
                body += _CRLF
            client.send(body + b"." + _CRLF)
            code, reply = client.getreply()
            self._expect(phase, code, reply)
        except (OSError, smtplib.SMTPException) as err:
            failed = self._hang_up(phase, _broken(self.settings.relay, phase, envelope), err)
            failed.connection_ended = phase is SmtpPhase.MAIL
            raise failed from retold(err, self.settings.redact)
        return Delivery(accepted, refused, reply_text(reply))

    def _expect(self, phase: SmtpPhase, code: int, reply: bytes | str) -> None:
        if classify_reply(code) is not ReplyClass.POSITIVE:
            raise self._refusal(phase, code, reply)

    def _refusal(self, phase: SmtpPhase, code: int, reply: bytes | str) -> XmailerSmtpError | AttemptFailed:
        """A negative reply: 5xx is final, 4xx and 421 are worth another try (nothing was queued)."""
        text = self.settings.redact(reply_text(reply))
        kind = classify_reply(code)
        outcome = SendOutcome(went_out_after(phase, kind))
        message = f"the relay {self.settings.relay} answered {code} {text} at {phase.value}"
        if kind is ReplyClass.PERMANENT:
            return XmailerSmtpRejected(message, smtp_code=code, smtp_text=text, send_outcome=outcome)
        if kind is ReplyClass.CLOSING:
            message += " (closing the connection)"
        return AttemptFailed(
            FailureKind.NEVER_SENT,
            XmailerSmtpError(
                message + "; nothing was queued", smtp_code=code, smtp_text=text, send_outcome=outcome
            ),
            connection_ended=kind is ReplyClass.CLOSING and phase is SmtpPhase.MAIL,
        )

    def _hang_up(self, phase: SmtpPhase, text: str, err: BaseException) -> AttemptFailed:
        """No reply (a reset, a close, a timeout): unknown only once the message's final dot was sent."""
        redact = self.settings.redact
        if is_tls_verification_failure(err):
            return AttemptFailed(
                FailureKind.CONFIGURATION,
                XmailerConfigurationError(
                    redact(
                        f"TLS verification of the relay {self.settings.relay} failed ({err!r}); fix "
                        "smtp_ca_file/smtp_verify (nothing was sent)"
                    )
                ),
            )
        if went_out_after(phase, None) is WentOut.NOTHING:
            return AttemptFailed(
                FailureKind.NEVER_SENT,
                XmailerTransportError(redact(f"{text}: {err!r}"), send_outcome=NOTHING_WENT_OUT),
            )
        return AttemptFailed(FailureKind.MAYBE_SENT, XmailerTransportError(redact(f"{text}: {err!r}")))

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.settings.ca_file)
        if not self.settings.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


class SmtpConnection:
    """One connection kept open for several transactions; not thread-safe (one per thread).

    A connection that already carried a message and is found closed when the next one starts (the relay's
    idle timeout, ``421`` at MAIL) is replaced at once, without counting as a failed attempt: nothing
    was queued, and the relay said why.

    :param driver: the driver that opens connections and runs transactions.
    """

    def __init__(self, driver: SmtpDriver) -> None:
        self.driver = driver
        self._client: smtplib.SMTP | None = None
        self._carried = 0
        #: connections opened so far (1 for a connection that was never lost)
        self.connections = 0

    def open(self) -> smtplib.SMTP:
        """The open client, connecting first if needed."""
        if self._client is None:
            self._client = self.driver.connect()
            self._carried = 0
            self.connections += 1
        return self._client

    def deliver(self, envelope: Envelope) -> Delivery:
        """Run one transaction on the kept connection (one attempt, as the retry policy sees it).

        :param envelope: the message.
        """
        while True:
            reused = self._client is not None and self._carried > 0
            client = self.open()
            try:
                delivery = self.driver.transaction(client, envelope)
            except AttemptFailed as failed:
                self.drop()
                if reused and failed.connection_ended:
                    continue  # the relay ended a connection that had done its work: a new one, now
                raise
            except BaseException:
                # interrupted (a failure, or Airflow's execution_timeout): drop the line, do not
                # wait for the relay to answer a polite QUIT
                self.drop()
                raise
            self._carried += 1
            return delivery

    def drop(self) -> None:
        """Close the connection without QUIT."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def close(self) -> None:
        """Say QUIT and close the connection (if open)."""
        client, self._client = self._client, None
        if client is not None:
            quit_quietly(client)


def _reply(client: smtplib.SMTP, command: str, pipelined: bool) -> tuple[int, bytes]:
    """The reply to ``command``: already sent with its group when pipelined, else sent now."""
    if not pipelined:
        client.putcmd(command)
    return client.getreply()


def _broken(relay: str, phase: SmtpPhase, envelope: Envelope) -> str:
    if went_out_after(phase, None) is WentOut.NOTHING:
        return f"the SMTP relay {relay} hung up before DATA (at {phase.value}): nothing was queued"
    return (
        f"the SMTP connection to {relay} broke after the message was sent, before the relay's answer: it "
        f"may have queued message {envelope.message_id} for {list(envelope.recipients)}"
    )


def reply_text(reply: bytes | str) -> str:
    """A reply's text as a string.

    :param reply: bytes from smtplib, or a string.
    """
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def reset_quietly(client: smtplib.SMTP) -> None:
    """RSET after a transaction that queued nothing; a failure only means the next send reconnects.

    :param client: the client.
    """
    try:
        client.rset()
    except (OSError, smtplib.SMTPException):
        client.close()


def quit_quietly(client: smtplib.SMTP) -> None:
    """QUIT, or just close when the relay is gone.

    :param client: the client.
    """
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()
