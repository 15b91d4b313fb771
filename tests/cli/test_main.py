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


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "usage: convzoo" in out
    for name in ("train", "eval", "predict", "filter", "summary", "plot", "explain", "bench"):
        assert name in out
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: convzoo {name}" in capsys.readouterr().out


def test_operating_system_errors_are_one_line_not_a_traceback(capsys, monkeypatch):
    import convzoo.cli as cli

    def refuse(args):
        raise PermissionError(13, "Permission denied", "/root/out.png")
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args = parser.parse_args(["summary", "--model", "lenet5"])
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    args.func = refuse
    assert main([]) == 2
    assert "Permission denied" in capsys.readouterr().err


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
