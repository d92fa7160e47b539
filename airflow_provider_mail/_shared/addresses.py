"""E-mail address parsing shared by every sender: splitting, validation, IDN and display names.

Pure functions, no I/O. Errors are raised as
:class:`~airflow_provider_mail.exceptions.MailValidationError` with code
``InvalidAddress`` or ``HeaderInjection`` and a message naming the argument and the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import formataddr, parseaddr

from airflow_provider_mail.exceptions import MailValidationError

# Local part: the dot-atom of RFC 5322 (quoted local parts are legal but never seen in practice and
# Postal's own parser rejects most of them, so we refuse them up front rather than at delivery).
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_CONTROL_CHARS = re.compile(r"[\r\n\x00]")


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
    """Refuse CR, LF and NUL in a value that ends up in a header (header injection).

    :param value: the value to check.
    :param argument: the argument's name, for the error message.
    """
    if _CONTROL_CHARS.search(value):
        raise MailValidationError(
            f"`{argument}` contains a line break or NUL ({value!r}); header values must be one line",
            code="HeaderInjection",
        )


def split_address_list(value: str | Iterable[str] | None) -> list[str]:
    """Split recipients given as a list or as one string separated by commas or semicolons.

    Separators inside double quotes or angle brackets do not split, so ``"Silva, João" <j@x.com.br>``
    stays whole. Empty items are dropped.

    :param value: ``None``, a string, or an iterable of strings (each may itself hold several).
    """
    if value is None:
        return []
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
    display_name, addr_spec = parseaddr(value.strip())
    if not addr_spec or addr_spec.count("@") != 1 or ("<" in value) != (">" in value):
        raise _invalid(argument, value, "it is not of the form local@domain")
    local, _, domain = addr_spec.rpartition("@")
    if not local or not domain:
        raise _invalid(argument, value, "the local part or the domain is empty")
    if not local.isascii():
        raise _invalid(argument, value, "a non-ASCII local part needs SMTPUTF8, which the service lacks")
    if not _LOCAL_PART.match(local):
        raise _invalid(argument, value, f"the local part {local!r} is not valid")
    return EmailAddress(
        addr_spec=f"{local}@{_ascii_domain(domain, argument, value)}", display_name=display_name
    )


def _ascii_domain(domain: str, argument: str, value: str) -> str:
    domain = domain.rstrip(".")
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError as err:
        raise _invalid(argument, value, f"the domain {domain!r} is not a valid international name") from err
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        raise _invalid(argument, value, f"the domain {domain!r} is not a valid host name")
    return ascii_domain.lower()


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
