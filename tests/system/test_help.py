"""What `--help` tells a new user, for every command; that the README's commands
take one form and exist; and that the product never speaks of its own issue
tracker."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from live2d_pose import camera, cli
from live2d_pose.bench import run as bench_run

REPO = Path(__file__).resolve().parents[2]
COMMANDS = [
    ["up"],
    ["ingest"],
    ["landmarker"],
    ["gateway"],
    ["vmc"],
    ["vts"],
    ["camera"],
    ["bench"],
    ["bench", "--fidelity"],
    ["health"],
    ["keys"],
]
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\d+|(?<![\w&/])#\d+\b", re.IGNORECASE)


def help_text(capsys, *command: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"])
    assert exit_info.value.code in (0, None), command
    return " ".join(capsys.readouterr().out.split())  # argparse wraps at the terminal's width


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_help_text_runs_and_names_no_issue(capsys, command):
    text = help_text(capsys, *command)
    assert text.startswith("usage: live2d-pose " + " ".join(command)), text[:80]
    assert not ISSUE_NUMBER.search(text), ISSUE_NUMBER.search(text)


@pytest.mark.parametrize("command", ["up", "gateway"])
def test_model_help_names_vrm_and_live2d(capsys, command):
    text = help_text(capsys, command)
    model = text[text.rindex("--model MODEL") :][:400]
    assert "VRM (.vrm)" in model and "Live2D model (.model3.json)" in model and "file or folder" in model


def test_bench_help_names_fidelity_and_every_scenario(capsys):
    from live2d_pose.bench.run import scenario_names

    text = help_text(capsys, "bench")
    assert "--fidelity" in text
    scenarios = text[text.rindex("--scenarios SCENARIOS") :][:400]
    for name in scenario_names():
        assert name in scenarios, name
    assert {"holistic-replicas", "vmc", "vmc-holistic"} <= set(scenario_names())


def test_short_flags_mean_the_same_on_every_service():
    """-i is the listening address of each service, as on `up` (the origin project's flag)."""
    parser = cli.build_parser()
    assert parser.parse_args(["ingest", "-i", "0.0.0.0"]).host == "0.0.0.0"
    assert parser.parse_args(["gateway", "-i", "0.0.0.0"]).host == "0.0.0.0"
    assert parser.parse_args(["up", "-i", "0.0.0.0"]).ip == "0.0.0.0"


def test_no_issue_numbers_in_the_product():
    """Code, docs, help texts and test names: an issue number means nothing to their reader."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    found = []
    for name in tracked.stdout.splitlines():
        path = REPO / name
        if (
            path.suffix not in (".py", ".js", ".mjs", ".md", ".html", ".css", ".toml", ".yml", ".yaml", ".sh")
            or "vendor" in path.parts
            or not path.is_file()
        ):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if re.search(r"\bissues?\s*#?\d+", line, re.IGNORECASE):
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def readme_commands() -> list[list[str]]:
    """Each `live2d-pose` command in the README's sh blocks, as argv; `make run ARGS=...` as `up`."""
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = [w for w in shlex.split(line, comments=True) if not re.match(r"^[A-Z_]+=", w)]
            if words[:2] == ["make", "run"]:
                args = next((w[len("ARGS=") :] for w in words if w.startswith("ARGS=")), "")
                commands.append(["live2d-pose", "up", *shlex.split(args)])
            elif words and words[0].endswith("live2d-pose"):
                commands.append(words)
    return commands


def test_readme_commands_use_one_form_and_real_flags():
    readme = (REPO / "README.md").read_text()
    assert ". .venv/bin/activate" in readme  # how `live2d-pose` gets on the PATH
    commands = readme_commands()
    assert len(commands) > 15
    for argv in commands:
        assert argv[0] == "live2d-pose", f"one form for commands: {' '.join(argv)}"
        command, args = argv[1], argv[2:]
        if command == "camera":
            camera.parse_args(args, environ={})
        elif command == "bench":
            bench_run.parse_args(args)
        elif command not in ("keys", "health"):
            cli.build_parser().parse_args([command, *args])  # SystemExit on a flag that is gone
