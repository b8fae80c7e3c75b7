#!/usr/bin/python3
"""An RTSP server (GStreamer's gst-rtsp-server) for the streaming tests:
a test pattern in VP8 or H.264 and a sine wave in Opus, as an IP camera
would serve them.

    rtsp-server.py PORT PATH VIDEO [USER PASSWORD]

VIDEO is vp8 or h264. With USER and PASSWORD, clients must authenticate
(HTTP digest, RFC 2617). The environment's RTSP_LOWER_TRANSPORT, "udp" (the
default) or "tcp", is the only transport the server takes for RTP. It
prints "ready" once it listens on 127.0.0.1:PORT and serves until killed.
"""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

port, path, video = sys.argv[1], sys.argv[2], sys.argv[3]
Gst.init(None)

encoders = {
    "vp8": "vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay name=pay0 pt=96",
    "h264": "openh264enc gop-size=30 ! video/x-h264,profile=constrained-baseline ! "
    "rtph264pay name=pay0 pt=96 config-interval=1",
}
launch = (
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1 ! "
    + encoders[video]
    + " audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! "
    "opusenc ! rtpopuspay name=pay1 pt=111 )"
)

server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(launch)
factory.set_shared(True)
if os.environ.get("RTSP_LOWER_TRANSPORT", "udp") == "tcp":
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
else:
    factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP)

if len(sys.argv) > 5:
    auth = GstRtspServer.RTSPAuth()
    auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    auth.add_digest(sys.argv[4], sys.argv[5], token)
    server.set_auth(auth)
    perms = GstRtspServer.RTSPPermissions()
    perms.add_role("user")
    perms.add_permission_for_role("user", "media.factory.access", True)
    perms.add_permission_for_role("user", "media.factory.construct", True)
    factory.set_permissions(perms)

server.get_mount_points().add_factory(path, factory)
if server.attach(None) == 0:
    print("attach failed", flush=True)
    sys.exit(1)
print("ready", flush=True)
GLib.MainLoop().run()
