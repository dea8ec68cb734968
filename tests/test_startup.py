"""What a start-up leaves out, and that it is still there when asked for."""

import subprocess
import sys


def test_mediapipe_loads_without_matplotlib_or_scipy_spatial_and_its_plots_still_work():
    code = (
        "import sys\n"
        "import streamanon.generate, streamanon.faces.analyze\n"
        "from streamanon.photometric.uv import default_layout\n"
        "default_layout()\n"
        "print(sorted(m for m in ('matplotlib', 'matplotlib.pyplot', 'scipy.spatial') if m in sys.modules))\n"
        "from mediapipe.python.solutions import drawing_utils\n"
        "import matplotlib\n"
        "matplotlib.use('Agg')\n"
        "print(callable(drawing_utils.plt.figure), type(sys.modules['matplotlib.pyplot']).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "[]"
    assert lines[1] == "True module"  # MediaPipe's drawing helpers reach the real pyplot on first use
