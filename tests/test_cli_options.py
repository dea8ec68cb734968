"""Bad option values end with exit 2 and one line on stderr, before any output or temporary file exists."""

from __future__ import annotations

import pytest
from conftest import REPO


@pytest.mark.parametrize("args", [["--threshold", "5"], ["--threshold", "0"], ["--detect-every", "0"],
                                  ["--detect-size", "10"], ["--mesh-min", "-3"], ["--mask-scale", "9"],
                                  ["--crf", "99"], ["--preset", "bogus"], ["-c:v", "bogus"], ["--pix-fmt", "nope"],
                                  ["--seed", "-1"]])
def test_bad_option_value_is_a_usage_error(cli, tmp_path, args):
    out = tmp_path / "o.mp4"
    r = cli(REPO / "samples" / "astronaut.mp4", out, *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr and args[0] in lines[0], r.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_internal_error_names_minus_v_only_where_the_command_has_it(capsys):
    from streamanon.errors import report

    assert report(ValueError("boom")) == 1
    assert "run with -v" in capsys.readouterr().err
    assert report(ValueError("boom"), "streamanon eval", verbose_flag=False) == 1
    line = capsys.readouterr().err
    assert line.startswith("streamanon eval: error: internal error: ValueError: boom") and "-v" not in line
