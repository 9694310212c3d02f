"""The README's command-line examples run in the order written, in a fresh folder: every
checkpoint a command reads was written by a command above it, and no example overwrites
another's checkpoint. Training is cut to two steps; everything else runs as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from arbook.__main__ import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> list[list[str]]:
    text = README.read_text()
    section = text[text.index("### Command line") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[:3] == ["python", "-m", "arbook"], line
            commands.append(words[3:])
    return commands


def test_readme_commands_run_in_order(tmp_path, monkeypatch, capsys):
    commands = _commands()
    assert len(commands) >= 10
    monkeypatch.chdir(tmp_path)
    written = []
    for argv in commands:
        if argv[0] == "train":
            argv = [*argv, "--max-steps", "2", "--quiet"]
            default = f"runs/{argv[1]}-{argv[3]}.pt"
            written.append(argv[argv.index("--out") + 1] if "--out" in argv else default)
        else:
            assert Path(argv[1]).is_file(), (
                f"{' '.join(argv)} reads a checkpoint no earlier command wrote"
            )
        assert main(argv) == 0, f"{' '.join(argv)}: {capsys.readouterr().err}"
    assert len(set(written)) == len(written), "two examples write the same checkpoint"
