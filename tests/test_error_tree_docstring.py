"""The error tree drawn in ``airflow_provider_mail.exceptions``' docstring is the tree of classes defined
there: every class is drawn, under a class it derives from, and marked fatal (``*``) exactly when Airflow
must not retry it."""

from __future__ import annotations

import inspect
import re

from airflow_provider_mail import exceptions

# "    │   ├── Sender25ConfigurationError  *   TLS verification ..." -> depth from the indent, name, mark
LINE = re.compile(r"^    (?P<indent>(?:[│ ]   )*)(?:[├└]── )?(?P<name>[A-Z]\w+)\s+(?P<fatal>\*)?\s")


def drawn_tree() -> list[tuple[int, str, bool]]:
    doc = exceptions.__doc__ or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in block.splitlines():
        match = LINE.match(line)
        if match:
            depth = len(match["indent"]) // 4 + (0 if match["name"] == "MailProviderError" else 1)
            rows.append((depth, match["name"], bool(match["fatal"])))
    return rows


def defined_errors() -> dict[str, type]:
    return {
        name: value
        for name, value in vars(exceptions).items()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == exceptions.__name__
    }


def test_every_error_class_is_drawn_once():
    drawn = [name for _, name, _ in drawn_tree()]
    assert len(drawn) == len(set(drawn)), drawn
    # FatalMailProviderError is the mark itself ("*"), named in the text above the tree
    assert set(drawn) == set(defined_errors()) - {"FatalMailProviderError"}
    assert ":class:`FatalMailProviderError`" in (exceptions.__doc__ or "")


def test_each_class_is_drawn_under_a_class_it_derives_from_and_fatal_exactly_when_it_is():
    classes = defined_errors()
    parents: list[str] = []
    for depth, name, fatal in drawn_tree():
        del parents[depth:]
        if parents:
            assert issubclass(classes[name], classes[parents[-1]]), f"{name} under {parents[-1]}"
        assert fatal == issubclass(classes[name], exceptions.FatalMailProviderError), name
        parents.append(name)
