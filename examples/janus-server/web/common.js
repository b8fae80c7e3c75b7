// Shared by the demo pages: where the Janus API is, a page log, and
// janus.js's start-up. Plain JavaScript, no build step.
'use strict';

const params = new URLSearchParams(location.search);

// serverURL is what janus.js is given: ?server=URL if set (any Janus
// server), else this program's WebSocket and REST endpoints from
// /config.js, WebSocket first (janus.js falls back to the next one);
// ?transport=http or ?transport=ws picks one.
function serverURL() {
  if (params.get('server')) return params.get('server');
  const c = window.ianuaConfig || {};
  const host = (e) => e.host || location.hostname;
  const ws = c.websocket && `ws://${host(c.websocket)}:${c.websocket.port}${c.websocket.path}`;
  const rest = c.http && `http://${host(c.http)}:${c.http.port}${c.http.path}`;
  switch (params.get('transport')) {
    case 'http': return rest;
    case 'ws': case 'websocket': return ws;
  }
  return [ws, rest].filter(Boolean);
}

function log(text) {
  const el = document.getElementById('log');
  const line = `${new Date().toISOString().slice(11, 23)} ${text}\n`;
  if (el) el.textContent += line;
  console.log(text);
}

// startJanus initialises janus.js and connects; it resolves with the
// Janus session.
function startJanus() {
  return new Promise((resolve, reject) => {
    Janus.init({
      debug: params.get('debug') ? 'all' : ['warn', 'error'],
      callback: () => {
        if (!Janus.isWebrtcSupported()) {
          reject(new Error('no WebRTC in this browser'));
          return;
        }
        const opts = {
          server: serverURL(),
          // No STUN unless the server has some: Janus's default is a
          // public server, which a loopback demo does not need.
          iceServers: (window.ianuaConfig && window.ianuaConfig.iceServers) || [],
          success: () => { log(`connected to ${janus.getServer()}, session ${janus.getSessionId()}`); resolve(janus); },
          error: (err) => { log(`Janus error: ${err}`); reject(new Error(String(err))); },
          destroyed: () => log('session destroyed'),
        };
        if (params.get('apisecret')) opts.apisecret = params.get('apisecret');
        if (params.get('token')) opts.token = params.get('token');
        const janus = new Janus(opts);
      },
    });
  });
}

// inboundVideo sums the inbound video statistics of a PeerConnection.
async function inboundVideo(pc) {
  const out = { framesDecoded: 0, packetsReceived: 0, streams: 0 };
  if (!pc) return out;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.framesDecoded += s.framesDecoded || 0;
      out.packetsReceived += s.packetsReceived || 0;
      out.streams++;
    }
  });
  return out;
}
