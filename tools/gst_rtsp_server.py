"""Serve an H.264 .mp4 clip over RTSP (TCP and UDP) with GStreamer's RTSP server, like an IP camera.

Runs under the system Python that has PyGObject (Debian: python3-gi, gir1.2-gst-rtsp-server-1.0,
gstreamer1.0-plugins-good), not necessarily the project's:

    /usr/bin/python3 tools/gst_rtsp_server.py clip.mp4 --port 8554      # rtsp://127.0.0.1:8554/cam

Each client gets the clip from its start, at its own rate. Used by tests/test_live_rtsp.py for RTSP input
over TCP (Debian's rtsp-server-perl carries UDP only).
"""

from __future__ import annotations

import argparse
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("clip", help="an .mp4 with H.264 video")
    p.add_argument("--port", type=int, default=8554)
    p.add_argument("--mount", default="/cam")
    args = p.parse_args(argv)

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    location = args.clip.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(f'( filesrc location="{location}" ! qtdemux ! queue ! rtph264pay name=pay0 pt=96 '
                       'config-interval=1 )')
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"gst_rtsp_server: cannot listen on port {args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"rtsp://127.0.0.1:{args.port}{args.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
