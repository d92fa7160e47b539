"""Provider metadata: valid against the installed Airflow's schema, importable, and in sync with the form."""

from __future__ import annotations

import importlib
import json

import jsonschema
import pytest

from airflow_provider_mail._compat import provider_info_schema_path
from airflow_provider_mail.get_provider_info import get_provider_info
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerReportHook

HOOKS = {"sender25": Sender25Hook, "xmailer": XmailerReportHook}

INFO = get_provider_info()


def test_provider_info_validates_against_the_installed_airflow_schema():
    with open(provider_info_schema_path()) as schema_file:
        jsonschema.validate(INFO, json.load(schema_file))


def _class_paths():
    for conn in INFO["connection-types"]:
        yield conn["hook-class-name"]
    yield from INFO.get("notifications", [])


@pytest.mark.parametrize("path", list(_class_paths()))
def test_every_class_path_imports(path):
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name)


@pytest.mark.parametrize(
    "module",
    [
        m
        for group in ("hooks", "operators", "sensors", "triggers")
        for item in INFO.get(group, [])
        for m in item["python-modules"]
    ],
)
def test_every_listed_module_imports(module):
    importlib.import_module(module)


def _entry(conn_type):
    (entry,) = [c for c in INFO["connection-types"] if c["connection-type"] == conn_type]
    return entry


def test_every_connection_type_has_a_hook():
    assert {c["connection-type"] for c in INFO["connection-types"]} == set(HOOKS)


@pytest.mark.parametrize("conn_type", sorted(HOOKS))
def test_connection_type_matches_the_hook_attributes(conn_type):
    entry, hook = _entry(conn_type), HOOKS[conn_type]
    assert entry["hook-class-name"] == f"{hook.__module__}.{hook.__name__}"
    assert (entry["connection-type"], entry["hook-name"]) == (hook.conn_type, hook.hook_name)


@pytest.mark.parametrize("conn_type", sorted(HOOKS))
def test_ui_field_behaviour_matches_the_hook_method(conn_type):
    behaviour = _entry(conn_type)["ui-field-behaviour"]
    from_hook = HOOKS[conn_type].get_ui_field_behaviour()
    assert behaviour["hidden-fields"] == from_hook["hidden_fields"]
    assert behaviour["relabeling"] == from_hook["relabeling"]
    assert behaviour["placeholders"] == from_hook["placeholders"]


WIDGET_CLASS_FOR_SCHEMA = {
    "integer": "IntegerField",
    "boolean": "BooleanField",
    "string": "StringField",
    "number": "StringField",
}


@pytest.mark.parametrize("conn_type", sorted(HOOKS))
def test_form_widgets_match_conn_fields(conn_type):
    pytest.importorskip("wtforms")  # part of the test extra on every supported Airflow
    conn_fields = _entry(conn_type)["conn-fields"]
    widgets = HOOKS[conn_type].get_connection_form_widgets()
    assert list(widgets) == list(conn_fields)
    for name, field in widgets.items():
        spec = conn_fields[name]
        schema_type = next(t for t in spec["schema"]["type"] if t != "null")
        expected = (
            "PasswordField"
            if spec["schema"].get("format") == "password"
            else WIDGET_CLASS_FOR_SCHEMA[schema_type]
        )
        assert field.field_class.__name__ == expected, name
        assert str(field.args[0]) == spec["label"], name
        assert field.kwargs["description"] == spec["description"], name
