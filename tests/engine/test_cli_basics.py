"""The CLI's own behaviour: quiet imports, piping into `head`, help."""

import subprocess
import sys

import pytest

from engine.cli import build_parser


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"models", "generate", "plan"} <= set(sub.choices)
    for name, p in sub.choices.items():
        assert p.format_help().strip(), name


# The import the CLI really makes (engine.models.dit): it pulls in torchao through diffusers,
# which is what logs "Failed to load ..." and the pytree "register_constant" deprecations.
_CHATTY_IMPORT = "from diffusers import AceStepTransformer1DModel\n"


def _stderr_of(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr


@pytest.mark.slow
def test_diffusers_import_chatter_is_silenced_but_errors_are_not():
    # Control: the same import without our quieting does chatter here, so the check below can fail.
    loud = _stderr_of(_CHATTY_IMPORT)
    assert "Failed to load" in loud or "register_constant" in loud, "the control import printed nothing"
    quiet = _stderr_of(
        "import logging\n"
        "from engine.quiet_imports import quiet_third_party_imports\n"
        "quiet_third_party_imports()\n"
        + _CHATTY_IMPORT
        + "logging.getLogger('torchao').error('real error still shows')\n"
    )
    assert "Failed to load" not in quiet
    assert "register_constant" not in quiet
    assert "Unable to import `torchao`" not in quiet
    assert "real error still shows" in quiet


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
