"""The CLI's own behaviour: quiet imports, piping into `head`, help."""

import subprocess
import sys

from engine.cli import build_parser


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"models", "generate", "plan"} <= set(sub.choices)
    for name, p in sub.choices.items():
        assert p.format_help().strip(), name


def test_diffusers_import_chatter_is_silenced_but_errors_are_not():
    code = (
        "import logging, sys\n"
        "from engine.quiet_imports import quiet_third_party_imports\n"
        "quiet_third_party_imports()\n"
        "import diffusers.models\n"
        "logging.getLogger('torchao').error('real error still shows')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Failed to load" not in result.stderr
    assert "register_constant" not in result.stderr
    assert "real error still shows" in result.stderr


def test_output_piped_into_a_closed_reader_exits_quietly(tiny_checkpoints):
    # `legato models list | head -1`: the reader closes early; no BrokenPipeError traceback.
    code = "import sys; from engine.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "models", "list", str(tiny_checkpoints)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader goes away before anything is written
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err, err.decode()
