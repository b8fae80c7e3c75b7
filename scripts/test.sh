#!/usr/bin/env bash
# Runs every test of ianua, installing first what the tests need: Debian's
# Chromium and ChromeDriver for the browser tests, SIPp and baresip for
# sipgw, ffmpeg and GStreamer's RTSP server for streaming, janus.js from
# npm for examples/janus-server. Go modules come by themselves. Usage:
# ./scripts/test.sh [extra go test flags]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# SIPp and baresip: real SIP peers for the sipgw tests.
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need+=(baresip)
# ffmpeg: a real RTP sender and reader for the streaming tests (ffprobe
# checks recordings).
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
# npm: installs janus.js for examples/janus-server.
if [ -f examples/janus-server/web/package.json ] && [ ! -d examples/janus-server/web/node_modules ]; then
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi
# GStreamer's RTSP server, driven from Debian's Python: a real RTSP camera
# (VP8 or H.264, and Opus) for the streaming tests' RTSP mountpoints.
gst=(python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
dpkg -s "${gst[@]}" >/dev/null 2>&1 || need_gst=1
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#need[@]} -gt 0 ] || [ -n "${need_gst:-}" ]; then
  $sudo apt-get update -qq
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -n "${need_gst:-}" ]; then
  echo "installing ${gst[*]}"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${gst[@]}" >/dev/null
fi
# SIPp plays recorded RTP (a PCMA call with RFC 2833 DTMF) through a raw
# socket: as another user than root it needs the capability.
if [ -n "$sudo" ] && command -v setcap >/dev/null 2>&1; then
  $sudo setcap cap_net_raw,cap_net_admin+ep "$(command -v sipp)" || true
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...

# janus.js and webrtc-adapter for examples/janus-server, from the npm
# registry, at the versions of its package-lock.json.
if [ -f examples/janus-server/web/package.json ] && [ ! -d examples/janus-server/web/node_modules ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: it installs janus.js for examples/janus-server (Debian: apt-get install -y npm)"; exit 1
  fi
  npm ci --prefix examples/janus-server/web --no-audit --no-fund
fi
# -p 1: one package at a time. Many tests run real PeerConnections,
# browsers and SIP peers against timeouts; on a 2-core machine running
# packages side by side starves them.
go test -race -count=1 -p 1 -timeout 20m "$@" ./...
