"""The convzoo command itself: --help, --version, no command, an unknown command."""
import subprocess
import sys

import pytest

import convzoo
from convzoo.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"convzoo {convzoo.__version__}"


def test_help_lists_the_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "usage: convzoo" in out
    from convzoo.cli import SUBCOMMANDS
    for name in SUBCOMMANDS:
        assert name in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: convzoo" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_console_entry_point_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "convzoo", "--version"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("convzoo ")
