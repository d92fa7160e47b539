"""The pytest plugin is loaded into every project that installs the package: what the docs promise of it
(docs/testing.rst, "The pytest plugin") holds in a user's project, run as its own pytest session."""

from __future__ import annotations

import subprocess
import sys
import textwrap

USER_CONFTEST = textwrap.dedent(
    """
    import pytest

    @pytest.fixture
    def sender25_emulator():
        return "the user's own fixture"
    """
)

USER_TESTS = textwrap.dedent(
    """
    def test_the_users_fixture_wins(sender25_emulator):
        assert sender25_emulator == "the user's own fixture"

    def test_the_plugin_is_loaded(request):
        assert request.config.pluginmanager.has_plugin("airflow_provider_mail")

    def test_our_other_fixtures_are_there(request):
        names = request.config.pluginmanager.get_plugin("airflow_provider_mail")
        assert {"sender25_airflow_conn", "xmailer_emulator", "xmailer_airflow_conn"} <= set(dir(names))
    """
)


def run_user_session(tmp_path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(USER_CONFTEST)
    (tmp_path / "test_users_project.py").write_text(USER_TESTS)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_users_fixture_of_the_same_name_replaces_ours_and_nothing_of_theirs_is_replaced(tmp_path):
    result = run_user_session(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "3 passed" in result.stdout


def test_the_plugin_can_be_left_out_of_a_session(tmp_path):
    result = run_user_session(tmp_path, "-p", "no:airflow_provider_mail", "-k", "plugin_is_loaded")
    assert result.returncode == 1 and "1 failed" in result.stdout, result.stdout[-3000:]
