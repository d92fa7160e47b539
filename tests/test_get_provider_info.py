"""Provider metadata: valid against the installed Airflow's schema, importable, and the connection forms
as Airflow itself reads them (``ProvidersManager``), generated from the one table in ``_shared/fields.py``."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import jsonschema
import pytest

from airflow_provider_mail._compat import provider_info_schema_path
from airflow_provider_mail._shared.fields import CONNECTION_FORMS, ExtraField
from airflow_provider_mail.get_provider_info import get_provider_info
from airflow_provider_mail.hooks.sender25 import Sender25Hook
from airflow_provider_mail.hooks.xmailer import XmailerReportHook
from tests.conftest import REPO_ROOT

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


def test_conn_fields_validate_against_the_provider_yaml_schema():
    """``provider_info.schema.json`` does not describe ``conn-fields``; ``provider.yaml.schema.json`` does."""
    schema_path = os.path.join(os.path.dirname(provider_info_schema_path()), "provider.yaml.schema.json")
    if not os.path.exists(schema_path):
        pytest.skip("this Airflow has no conn-fields schema (it reads the hook methods)")
    with open(schema_path) as schema_file:
        connection_types = json.load(schema_file)["properties"]["connection-types"]
    jsonschema.validate(INFO["connection-types"], connection_types)


# -- the form as Airflow reads it ---------------------------------------------------------------------

#: Run in a fresh interpreter: ProvidersManager is a process-wide singleton. It prints, per extra of our
#: connection types, what the UI will show, whatever the Airflow version's representation is
#: (conn-fields dicts on 3.2+, wtforms fields read from the hook class on older versions).
PROBE = textwrap.dedent(
    """
    import json
    from airflow.providers_manager import ProvidersManager

    def describe(field):
        if isinstance(field, dict):  # Airflow 3.2+: built from get_provider_info()["conn-fields"]
            schema = field["schema"]
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            return {
                "kind": next(t for t in types if t != "null"),
                "nullable": "null" in types,
                "label": schema.get("title"),
                "description": field["description"],
                "default": field["value"],
                "choices": schema.get("enum"),
            }
        kwargs = field.kwargs  # Airflow < 3.2: a wtforms field from the hook's get_connection_form_widgets
        choices = [list(v.values) for v in kwargs.get("validators", []) if hasattr(v, "values")]
        return {
            "kind": field.field_class.__name__,
            "nullable": True,
            "label": str(field.args[0]),
            "description": kwargs.get("description"),
            "default": kwargs.get("default"),
            "choices": choices[0] if choices else None,
        }

    pm = ProvidersManager()
    widgets, behaviours = pm.connection_form_widgets, pm.field_behaviours
    out = {}
    for conn_type in CONN_TYPES:
        prefix = f"extra__{conn_type}__"
        out[conn_type] = {
            "fields": {k[len(prefix):]: describe(w.field) for k, w in widgets.items() if k.startswith(prefix)},
            "behaviour": behaviours.get(conn_type),
        }
    print("PROBE:" + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def airflow_form():
    """What this Airflow's ProvidersManager holds for each connection type of ``get_provider_info``."""
    conn_types = [c["connection-type"] for c in INFO["connection-types"]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", f"CONN_TYPES = {conn_types!r}\n{PROBE}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("PROBE:")]
    return json.loads(line[len("PROBE:") :])


LEGACY_CLASS = {
    "string": "StringField",
    "number": "StringField",
    "integer": "IntegerField",
    "boolean": "BooleanField",
}


def _expected_default(extra, legacy):
    if extra.default is None or not legacy or extra.kind in ("integer", "boolean"):
        return extra.default
    return str(extra.default)  # a text field holds text


@pytest.mark.parametrize("conn_type", [c["connection-type"] for c in INFO["connection-types"]])
def test_airflow_shows_every_extra_of_the_registered_hook(airflow_form, conn_type):
    """Airflow 2.11 reads the widgets only from the registered class's own ``__dict__`` (issue 10.5)."""
    form = CONNECTION_FORMS[conn_type]
    seen = airflow_form[conn_type]["fields"]
    assert list(seen) == [extra.name for extra in form.extras]
    for extra in form.extras:
        field = seen[extra.name]
        legacy = field["kind"].endswith("Field")
        kind = LEGACY_CLASS[extra.kind] if legacy else extra.kind
        assert (field["kind"], field["label"], field["description"]) == (kind, extra.label, extra.description)
        assert field["default"] == _expected_default(extra, legacy), extra.name


@pytest.mark.parametrize("conn_type", [c["connection-type"] for c in INFO["connection-types"]])
def test_choice_extras_start_on_their_default_and_never_offer_null(airflow_form, conn_type):
    """Issue 10.6: "Report auth" and "SMTP TLS" offered a literal ``null`` and started on it."""
    seen = airflow_form[conn_type]["fields"]
    choice_fields = {name: f for name, f in seen.items() if f["choices"] is not None}
    expected = {e.name for e in CONNECTION_FORMS[conn_type].extras if e.choices}
    assert set(choice_fields) == expected
    for name, field in choice_fields.items():
        assert None not in field["choices"], name
        assert field["default"] in field["choices"], name
        if not field["kind"].endswith("Field"):  # the 3.2+ dropdown: not nullable, so never cleared to null
            assert field["nullable"] is False, name


def test_xmailer_choices_are_the_ones_the_hook_accepts(airflow_form):
    from airflow_provider_mail._xmailer.connection import SMTP_TLS_MODES

    seen = airflow_form["xmailer"]["fields"]
    assert seen["smtp_tls"]["choices"] == list(SMTP_TLS_MODES)
    assert seen["auth"]["choices"] == ["password", "token"]
    assert seen["report_method"]["choices"] == ["post", "get"]


@pytest.mark.parametrize("conn_type", [c["connection-type"] for c in INFO["connection-types"]])
def test_airflow_applies_the_field_behaviour(airflow_form, conn_type):
    form = CONNECTION_FORMS[conn_type]
    behaviour = airflow_form[conn_type]["behaviour"]
    assert behaviour is not None
    assert behaviour["hidden_fields"] == list(form.hidden_fields)
    assert behaviour["relabeling"] == form.relabeling
    prefix = f"extra__{conn_type}__"  # Airflow prefixes the placeholders of extras
    placeholders = {key.removeprefix(prefix): value for key, value in behaviour["placeholders"].items()}
    assert placeholders == form.all_placeholders()


def _extras_read_by(path, function):
    """Names of the extras ``function`` in ``path`` reads through ``extras.<getter>("name", ...)``."""
    tree = ast.parse((REPO_ROOT / path).read_text())
    (func,) = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function]
    names = set()
    for node in ast.walk(func):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "extras"
        ):
            if node.func.attr == "verify":  # ConnectionExtras.verify() reads the "verify" extra
                names.add("verify")
            elif node.args and isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
    return names


READERS = {
    "sender25": (
        ("airflow_provider_mail/_sender25/connection.py", "resolve_sender25_settings"),
        ("airflow_provider_mail/_webhooks/settings.py", "resolve_webhook_settings"),
    ),
    "xmailer": (("airflow_provider_mail/_xmailer/connection.py", "resolve_xmailer_settings"),),
}


@pytest.mark.parametrize("conn_type", sorted(READERS))
def test_every_extra_the_hook_reads_is_on_the_form(conn_type):
    read = set().union(*(_extras_read_by(path, function) for path, function in READERS[conn_type]))
    assert len(read) > 5  # the walk found the getters
    assert {extra.name for extra in CONNECTION_FORMS[conn_type].extras} == read


def _connection(conn_type, extras):
    return SimpleNamespace(
        conn_id=f"{conn_type}_form",
        conn_type=conn_type,
        host="127.0.0.1",
        schema="https",
        port=None,
        login="user",
        password="secret",
        extra_dejson=extras,
    )


@pytest.mark.parametrize("legacy", [False, True], ids=["conn-fields", "wtforms"])
@pytest.mark.parametrize("conn_type", sorted(READERS))
def test_a_form_saved_untouched_behaves_like_no_extras(conn_type, legacy):
    """The form's defaults are the hook's defaults, as each UI saves them (typed, or text on 2.11)."""
    from airflow_provider_mail._sender25.connection import resolve_sender25_settings
    from airflow_provider_mail._xmailer.connection import resolve_xmailer_settings

    resolve = {"sender25": resolve_sender25_settings, "xmailer": resolve_xmailer_settings}[conn_type]
    saved = {
        extra.name: _expected_default(extra, legacy)
        for extra in CONNECTION_FORMS[conn_type].extras
        if extra.default is not None
    }
    assert resolve(_connection(conn_type, saved)) == resolve(_connection(conn_type, {}))


def test_an_enum_without_a_default_is_refused():
    with pytest.raises(ValueError, match="needs a default"):
        ExtraField("auth", "Auth", "string", "d", choices=("a", "b"))


# -- everything else Airflow shows -------------------------------------------------------------------

#: What ProvidersManager holds for this provider beyond the connection forms (a fresh interpreter).
SHOWN_PROBE = textwrap.dedent(
    """
    import json
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    data = pm.providers["airflow-provider-mail"].data
    out = {
        "sections": {key: data.get(key) for key in ("sensors", "triggers", "operators", "integrations")},
        "triggers": sorted(
            module for info in pm.trigger if info.package_name == "airflow-provider-mail"
            for module in [info.trigger_class_name]
        ),
        "notifications": sorted(getattr(n, "notification_class_name", n) for n in pm.notification),
        "configs": dict(pm.provider_configs).get("airflow-provider-mail"),
        "cli": sorted(f.__module__ + "." + f.__name__ for f in getattr(pm, "cli_command_functions", ())),
    }
    print("PROBE:" + json.dumps(out, default=str))
    """
)


@pytest.fixture(scope="module")
def airflow_shows():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", SHOWN_PROBE], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("PROBE:")]
    return json.loads(line[len("PROBE:") :])


def test_airflow_holds_the_sensors_triggers_and_bulk_operators(airflow_shows):
    sections = airflow_shows["sections"]
    for group, module in (
        ("sensors", "airflow_provider_mail.sensors.delivery"),
        ("triggers", "airflow_provider_mail.triggers.delivery"),
        ("operators", "airflow_provider_mail.operators.bulk"),
    ):
        by_integration = {item["integration-name"]: item["python-modules"] for item in sections[group]}
        assert set(by_integration) == {"Sender25", "xmailer"}
        assert all(module in modules for modules in by_integration.values()), group
    names = {item["integration-name"]: item for item in sections["integrations"]}
    assert names["Sender25"]["external-doc-url"].startswith("https://")
    assert names["xmailer"]["external-doc-url"].startswith("https://")


def test_airflow_lists_the_trigger_and_the_notifier(airflow_shows):
    assert set(airflow_shows["triggers"]) == {
        "airflow_provider_mail.triggers.delivery",
        "airflow_provider_mail.triggers.xmailer_failures",
    }
    assert "airflow_provider_mail.notifications.sender25.Sender25Notifier" in airflow_shows["notifications"]


def test_airflow_holds_the_mail_provider_config_with_what_each_option_means(airflow_shows):
    section = airflow_shows["configs"]["mail_provider"]
    assert section["description"]
    assert set(section["options"]) == {"send_ledger", "send_ledger_retention_days"}
    for name, option in section["options"].items():
        assert option["description"] and option["type"] and option["example"], name
        assert option["default"] is not None, name


def test_the_config_defaults_are_the_ones_the_code_applies():
    from airflow_provider_mail._ledger import DEFAULT_RETENTION
    from airflow_provider_mail._ledger.ledger import DEFAULT

    options = INFO["config"]["mail_provider"]["options"]
    assert options["send_ledger"]["default"] == DEFAULT
    assert float(options["send_ledger_retention_days"]["default"]) == DEFAULT_RETENTION.days


def test_the_cli_command_is_declared_where_airflow_reads_it(airflow_shows):
    from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS

    assert INFO["cli"] == ["airflow_provider_mail.cli.get_cli_commands"]
    if AIRFLOW_V_3_0_PLUS:
        assert "airflow_provider_mail.cli.get_cli_commands" in airflow_shows["cli"]


# -- through the `airflow` command line ---------------------------------------------------------------


def _airflow(*args: str) -> str:
    from tests.conftest import run_airflow

    result = run_airflow(*args, env={"AIRFLOW__CORE__LOAD_EXAMPLES": "False"}, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_airflow_providers_get_shows_the_provider():
    out = _airflow("providers", "get", "airflow-provider-mail", "--full", "-o", "json")
    (shown,) = json.loads(out[out.index("[") :])
    assert shown["package-name"] == "airflow-provider-mail"
    assert shown["description"].rstrip(".") == INFO["description"].rstrip(".")
    for key in ("integrations", "sensors", "triggers", "notifications", "config", "operators"):
        assert shown[key] == INFO[key], key


def test_airflow_providers_triggers_and_notifications_list_ours():
    triggers = json.loads(_airflow("providers", "triggers", "-o", "json"))
    ours = {
        (t["class"], t["integration_name"]) for t in triggers if t["package_name"] == "airflow-provider-mail"
    }
    assert ours == {
        ("airflow_provider_mail.triggers.delivery", "Sender25"),
        ("airflow_provider_mail.triggers.delivery", "xmailer"),
        ("airflow_provider_mail.triggers.xmailer_failures", "xmailer"),
    }
    notifications = _airflow("providers", "notifications", "-o", "plain")
    assert "airflow_provider_mail.notifications.sender25.Sender25Notifier" in notifications


def test_airflow_config_list_shows_the_options_with_their_descriptions():
    from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS

    values = ["--show-values"] if AIRFLOW_V_3_0_PLUS else []  # 3.x hides values unless asked
    out = _airflow("config", "list", "--section", "mail_provider", *values, "-d", "-e")
    assert "[mail_provider]" in out
    assert "send_ledger = default" in out and "send_ledger_retention_days = 7" in out
    assert "stops a retried try from sending a message again" in " ".join(out.split())
    assert "# Example: send_ledger_retention_days = 30" in out


def test_airflow_mail_ledger_purge_deletes_the_expired_records(tmp_path):
    from datetime import timedelta

    from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
    from airflow_provider_mail._ledger import MESSAGE_ROW, LedgerKey, LedgerRow, SendLedger
    from airflow_provider_mail._ledger.backends import ObjectStorageBackend

    if not AIRFLOW_V_3_0_PLUS:
        pytest.skip("Airflow 2.11 reads no `cli` from providers (the function is there to call)")
    location = (tmp_path / "ledger").as_uri()
    for run_id, days in (("old", -1), ("fresh", 7)):
        ledger = SendLedger(ObjectStorageBackend(location), LedgerKey("d", "t", run_id), timedelta(days=days))
        attempt = ledger.begin(max_tries=1, try_number=1)
        chunk = attempt.mark([LedgerRow(MESSAGE_ROW, 0, "", "sending", 1)])
        attempt.settle(chunk, [LedgerRow(MESSAGE_ROW, 0, "", "accepted", 1, {"id": 1})])
    stored = sorted(path.name for path in (tmp_path / "ledger").iterdir())
    assert any(".old." in name for name in stored) and any(".fresh." in name for name in stored)
    out = _airflow("mail-ledger", "purge", location)
    purged = sum(".old." in name for name in stored)  # the expired ledger's head and chunks
    assert f"purged {purged} expired send-ledger record(s) from {location}" in out
    left = sorted(path.name for path in (tmp_path / "ledger").iterdir())
    assert left == [name for name in stored if ".fresh." in name]


def test_airflow_mail_ledger_purge_sends_a_variables_ledger_to_a_task():
    from airflow_provider_mail._compat import AIRFLOW_V_3_0_PLUS
    from tests.conftest import run_airflow

    if not AIRFLOW_V_3_0_PLUS:
        pytest.skip("Airflow 2.11 reads no `cli` from providers")
    result = run_airflow("mail-ledger", "purge", "variable", env={"AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    assert result.returncode != 0
    assert 'purge_expired("variable") in a @task' in result.stdout + result.stderr
