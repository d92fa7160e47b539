"""E-mail address and header-value checks shared by every sender: splitting, IDN, display names, line breaks.

Pure functions, no I/O. This is the ONE place that decides what a header value may contain
(:func:`reject_line_breaks`, :func:`header_text`, :func:`validated_headers`) and how a domain becomes
ASCII (:func:`ascii_hostname`, IDNA 2008 / UTS 46 through the ``idna`` package, never Python's
IDNA 2003 codec). Errors are raised as :class:`~airflow_provider_mail.exceptions.MailValidationError`
with code ``InvalidAddress``, ``HeaderInjection`` or ``InvalidArgument`` and a message naming the
argument and the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import formataddr, parseaddr
from typing import Any, NamedTuple

import idna

from airflow_provider_mail.exceptions import MailValidationError

# Local part: the dot-atom of RFC 5322 (quoted local parts are legal but never seen in practice and
# Postal's own parser rejects most of them, so we refuse them up front rather than at delivery).
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
#: ``local@domain`` or ``Atom Phrase <local@domain>`` with a dot-atom local part and an ASCII domain:
#: what ``parseaddr`` returns unchanged, read without it (most of the cost of a small message's build).
_COMMON_ADDRESS = re.compile(
    rf"(?:({_ATEXT}(?: {_ATEXT})*) <)?({_ATEXT}(?:\.{_ATEXT})*)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?(1)>)\Z"
)
#: Every character that ends a line for some reader (``str.splitlines``: CR, LF, VT, FF, FS, GS, RS,
#: NEL, U+2028, U+2029), plus NUL. Any of them in a header value could start a new header somewhere.
LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00"
_LINE_BREAK = re.compile(f"[{re.escape(LINE_BREAKS)}]")


@dataclass(frozen=True)
class EmailAddress:
    """One parsed address.

    :param addr_spec: ``local@domain`` with the domain in ASCII (IDN converted to punycode).
    :param display_name: the display name, possibly non-ASCII, or ``""``.
    """

    addr_spec: str
    display_name: str = ""

    @property
    def header_value(self) -> str:
        """The address as it belongs in a header: ``"Name" <addr>``; non-ASCII names RFC 2047-encoded."""
        return formataddr((self.display_name, self.addr_spec)) if self.display_name else self.addr_spec

    def as_address(self) -> Address:
        """The address as an ``email.headerregistry.Address``: the only form the ``email`` package
        folds without splitting a display name that contains a comma."""
        local, _, domain = self.addr_spec.rpartition("@")
        return Address(display_name=self.display_name, username=local, domain=domain)

    @property
    def key(self) -> str:
        """Case-insensitive identity used to de-duplicate recipients."""
        return self.addr_spec.lower()


def reject_line_breaks(value: str, *, argument: str) -> None:
    """Refuse any line break (see :data:`LINE_BREAKS`) or NUL in a value that ends up in a header.

    :param value: the value to check (a non-string is refused as ``InvalidArgument``).
    :param argument: the argument's name, for the error message.
    """
    if not isinstance(value, str):
        raise MailValidationError(
            f"`{argument}` must be a string, got {type(value).__name__}", code="InvalidArgument"
        )
    if _LINE_BREAK.search(value):
        raise MailValidationError(
            f"`{argument}` contains a line break or NUL ({value!r}); header values must be one line",
            code="HeaderInjection",
        )


def header_text(value: Any, *, argument: str) -> str:
    """Return a one-line header text (subject, tag): a ``str`` without line breaks.

    :param value: the argument's value.
    :param argument: the argument's name, for the error message.
    """
    reject_line_breaks(value, argument=argument)
    return value


def body_text(value: Any, *, argument: str) -> str | None:
    """Return a message body: ``None`` or a ``str`` (bytes must be decoded by the caller, who knows how).

    :param value: the argument's value.
    :param argument: the argument's name, for the error message.
    """
    if value is None or isinstance(value, str):
        return value
    hint = "; decode it first, e.g. value.decode('utf-8')" if isinstance(value, (bytes, bytearray)) else ""
    raise MailValidationError(
        f"`{argument}` must be a string, got {type(value).__name__}{hint}", code="InvalidArgument"
    )


def validate_header_name(name: Any, *, argument: str = "headers") -> str:
    """Return a header field name: printable ASCII without a colon or space (RFC 5322 ftext).

    :param name: the name.
    :param argument: the argument it came from, for the error message.
    """
    if not isinstance(name, str) or not name or not all(33 <= ord(c) <= 126 and c != ":" for c in name):
        raise MailValidationError(
            f"`{argument}` has an invalid header name {name!r} (printable ASCII, no colon)",
            code="HeaderInjection",
        )
    return name


def validated_headers(headers: Any, *, argument: str = "headers") -> dict[str, str]:
    """Check custom headers: a mapping of valid names to one-line values (``str``, or a number).

    :param headers: ``None`` or a mapping of header name to value.
    :param argument: the argument's name, for the error message.
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise MailValidationError(
            f"`{argument}` must be a mapping of header name to value, got {type(headers).__name__}",
            code="InvalidArgument",
        )
    result: dict[str, str] = {}
    for name, value in headers.items():
        validate_header_name(name, argument=argument)
        # Numbers are stringified as a convenience; anything else (bytes, None, lists) is a mistake
        # whose str() would put "b'...'" or "None" in the mail.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        result[name] = header_text(value, argument=f"{argument}[{name!r}]")
    return result


def split_address_list(value: str | Iterable[str] | None) -> list[str]:
    """Split recipients given as a list or as one string separated by commas or semicolons.

    Separators inside double quotes or angle brackets do not split, so ``"Silva, João" <j@x.com.br>``
    stays whole. Empty items are dropped.

    :param value: ``None``, a string, or an iterable of strings (each may itself hold several).
    """
    if value is None:
        return []
    if isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, (str, Iterable)):
        raise MailValidationError(
            f"recipients must be a string or a list of strings, got {type(value).__name__}",
            code="InvalidAddress",
        )
    items = [value] if isinstance(value, str) else list(value)
    result: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise MailValidationError(
                f"recipient {item!r} is a {type(item).__name__}, expected a string", code="InvalidAddress"
            )
        result.extend(part for part in _split_outside_quotes(item) if part)
    return result


def _split_outside_quotes(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    in_angle = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and in_quotes:
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char == "<" and not in_quotes:
            in_angle = True
        elif char == ">" and not in_quotes:
            in_angle = False
        elif char in ",;" and not in_quotes and not in_angle:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def parse_address(value: str, *, argument: str) -> EmailAddress:
    """Parse and validate one address (``addr`` or ``Name <addr>``).

    :param value: the address text.
    :param argument: the argument it came from, named in errors.
    """
    if not isinstance(value, str):
        raise MailValidationError(
            f"`{argument}` must be a string address, got {type(value).__name__}", code="InvalidAddress"
        )
    reject_line_breaks(value, argument=argument)
    display_name, local, domain = _address_parts(value, argument=argument)
    if not local or not domain:
        raise _invalid(argument, value, "the local part or the domain is empty")
    if not local.isascii():
        raise _invalid(argument, value, "a non-ASCII local part needs SMTPUTF8, which the service lacks")
    if not _LOCAL_PART.match(local):
        raise _invalid(argument, value, f"the local part {local!r} is not valid")
    ascii_domain = ascii_hostname(domain, argument=argument, shown=value)
    if "." not in ascii_domain:
        raise _invalid(argument, value, f"the domain {domain!r} is not a fully qualified host name")
    return EmailAddress(addr_spec=f"{local}@{ascii_domain}", display_name=display_name)


def _address_parts(value: str, *, argument: str) -> tuple[str, str, str]:
    """``(display name, local part, domain)`` as ``parseaddr`` reads them (the common forms directly)."""
    common = _COMMON_ADDRESS.match(value.strip())
    if common is not None:
        return common.group(1) or "", common.group(2), common.group(3)
    display_name, addr_spec = parseaddr(value.strip())
    if not addr_spec or addr_spec.count("@") != 1 or ("<" in value) != (">" in value):
        raise _invalid(argument, value, "it is not of the form local@domain")
    local, _, domain = addr_spec.rpartition("@")
    return display_name, local, domain


def ascii_hostname(name: str, *, argument: str, shown: str | None = None) -> str:
    """Return a host or mail domain in lower-case ASCII, converting IDN labels with IDNA 2008 (UTS 46).

    ``straße.de`` becomes ``xn--strae-oqa.de`` (IDNA 2003, Python's ``"idna"`` codec, would silently
    send it to ``strasse.de``, another domain). A name IDNA 2008 refuses (symbols such as ``☃``, bad
    ``xn--`` labels, underscores) is refused, never altered. One trailing dot is dropped.

    :param name: the host or domain.
    :param argument: the argument it came from, for the error message.
    :param shown: the full value to show in the error (defaults to ``name``).
    """
    shown = name if shown is None else shown
    domain = name[:-1] if name.endswith(".") else name
    try:
        if domain.isascii():
            # Plain LDH names are not IDNA's business (IDNA 2008 would refuse the valid ``ab--c``);
            # only existing A-labels are checked to be real punycode.
            ascii_domain = domain.lower()
            for label in ascii_domain.split("."):
                if label.startswith("xn--"):
                    idna.decode(label)
        else:
            ascii_domain = idna.encode(domain, uts46=True, std3_rules=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as err:
        raise _invalid(
            argument, shown, f"the domain {domain!r} is not a valid (IDNA 2008) host name"
        ) from err
    if len(ascii_domain) > 253 or not all(_DOMAIN_LABEL.match(label) for label in ascii_domain.split(".")):
        raise _invalid(argument, shown, f"the domain {domain!r} is not a valid host name")
    return ascii_domain


def _invalid(argument: str, value: str, reason: str) -> MailValidationError:
    return MailValidationError(
        f"`{argument}` has an invalid address {value!r}: {reason}", code="InvalidAddress"
    )


def parse_address_list(value: str | Iterable[str] | None, *, argument: str) -> list[EmailAddress]:
    """Split and parse a recipient argument; every item is validated.

    :param value: ``None``, one string (comma/semicolon separated) or a list of strings.
    :param argument: the argument's name, for errors.
    """
    return [parse_address(item, argument=argument) for item in split_address_list(value)]


def dedupe_recipients(*groups: list[EmailAddress]) -> list[list[EmailAddress]]:
    """Drop repeated recipients case-insensitively, keeping the first place each appears.

    Postal stores (and delivers) one message per recipient *entry*, so a duplicate would be mailed twice.

    :param groups: recipient lists in priority order (to, cc, bcc).
    """
    seen: set[str] = set()
    result: list[list[EmailAddress]] = []
    for group in groups:
        kept: list[EmailAddress] = []
        for address in group:
            if address.key not in seen:
                seen.add(address.key)
                kept.append(address)
        result.append(kept)
    return result


class MessageParts(NamedTuple):
    """The envelope and bodies of a composed message, parsed and checked for their types and lines.

    :param to: To recipients, de-duplicated across the three lists (any case).
    :param cc: Cc recipients.
    :param bcc: Bcc recipients.
    :param plain_body: the text body, or ``None``.
    :param html_body: the HTML body, or ``None``.
    """

    to: list[EmailAddress]
    cc: list[EmailAddress]
    bcc: list[EmailAddress]
    plain_body: str | None
    html_body: str | None


def parse_message_parts(
    *,
    to: str | Iterable[str] | None,
    cc: str | Iterable[str] | None,
    bcc: str | Iterable[str] | None,
    from_email: Any,
    plain_body: Any,
    html_body: Any,
) -> MessageParts:
    """Parse what every service's builder needs first; each then applies its own rules in its own order.

    :param to: To recipients: a list or a string separated by commas/semicolons.
    :param cc: Cc recipients.
    :param bcc: Bcc recipients.
    :param from_email: the From address (only its type is checked here).
    :param plain_body: the text body.
    :param html_body: the HTML body.
    """
    to_list, cc_list, bcc_list = dedupe_recipients(
        parse_address_list(to, argument="to"),
        parse_address_list(cc, argument="cc"),
        parse_address_list(bcc, argument="bcc"),
    )
    if from_email is not None and not isinstance(from_email, str):
        parse_address(from_email, argument="from_email")  # raises InvalidAddress naming the type
    return MessageParts(
        to_list,
        cc_list,
        bcc_list,
        body_text(plain_body, argument="plain_body"),
        body_text(html_body, argument="html_body"),
    )
