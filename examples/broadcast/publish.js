// ianua WHIP client (RFC 9725): plain JavaScript, no build step, no
// dependencies.
//
// Steps: take the camera and microphone, add them to an RTCPeerConnection
// as sendonly transceivers, make the offer and wait for ICE gathering (no
// trickle: every candidate goes in the offer), POST it as application/sdp,
// apply the 201's answer and keep its Location, the resource that DELETE
// ends.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// gatherTimeoutMs bounds the wait for ICE gathering: the candidates found
// by then go in the offer. Host candidates come within milliseconds; a slow
// STUN server must not hold the start up.
const gatherTimeoutMs = 2000;

const st = {
  state: 'idle',
  room: 0,
  pc: null,
  stream: null,
  resource: null, // the Location of the WHIP session
  deleteStatus: 0, // the HTTP status of our DELETE, for the test
};

function log(text) {
  const el = $('log');
  el.textContent += new Date().toISOString().slice(11, 23) + '  ' + text + '\n';
  el.scrollTop = el.scrollHeight;
}

function setState(s) {
  st.state = s;
  $('state').textContent = s;
}

// headers adds the bearer token, if one is given, to the request headers.
function headers(extra) {
  const h = Object.assign({}, extra);
  const token = $('token').value.trim();
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

// whipURL is the endpoint of the room: what OBS or ffmpeg would be given.
function whipURL() {
  return `${location.origin}/whip/${st.room}`;
}

// findRoom learns the room: ?room=, or the server's default from /feeds.
async function findRoom() {
  if (params.get('room')) return Number(params.get('room'));
  const resp = await fetch('/feeds', { headers: headers() });
  if (!resp.ok) throw new Error(`GET /feeds: ${resp.status} ${(await resp.text()).trim()}`);
  return (await resp.json()).room;
}

// gathered resolves when ICE gathering is complete, or after ms.
function gathered(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(() => { log('ICE gathering timed out: offering the candidates found so far'); done(); }, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

async function start() {
  $('start').disabled = true;
  setState('starting');
  try {
    st.room = await findRoom();
    $('whip-url').value = whipURL();

    st.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    $('local').srcObject = st.stream;
    log('camera and microphone: ' + st.stream.getTracks().map((t) => t.kind).join(' + '));

    // No ICE servers: the server's candidates (public with -nat1to1 or
    // -stun) are in the answer, and our host candidates reach it.
    const pc = new RTCPeerConnection();
    st.pc = pc;
    for (const track of st.stream.getTracks()) {
      pc.addTransceiver(track, { direction: 'sendonly', streams: [st.stream] });
    }
    pc.onconnectionstatechange = () => {
      log('connection: ' + pc.connectionState);
      if (st.pc !== pc) return;
      if (pc.connectionState === 'connected') setState('live');
      if (pc.connectionState === 'failed') release('failed');
    };

    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, gatherTimeoutMs);

    setState('connecting');
    const url = whipURL() + '?display=' + encodeURIComponent($('display').value.trim() || 'browser');
    const resp = await fetch(url, {
      method: 'POST',
      headers: headers({ 'Content-Type': 'application/sdp' }),
      body: pc.localDescription.sdp,
    });
    const body = await resp.text();
    if (resp.status !== 201) throw new Error(`WHIP POST: ${resp.status} ${body.trim()}`);
    // Location may be relative: resolve it against the endpoint.
    st.resource = new URL(resp.headers.get('Location'), url).href;
    log('WHIP session ' + st.resource);
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    // The server may end the session (shutdown, kicked from the room): its
    // DTLS close_notify closes the transport at once.
    const dtls = pc.getSenders()[0].transport;
    dtls.onstatechange = () => {
      if (st.pc !== pc || dtls.state !== 'closed') return;
      log('the server ended the session');
      release('ended');
    };
    $('stop').disabled = false;
  } catch (e) {
    log('error: ' + e.message);
    await stop();
    setState('failed');
  }
}

// release closes the PeerConnection and the camera.
function release(state) {
  if (st.pc) st.pc.close();
  st.pc = null;
  st.resource = null;
  if (st.stream) st.stream.getTracks().forEach((t) => t.stop());
  st.stream = null;
  $('local').srcObject = null;
  $('stop').disabled = true;
  $('start').disabled = false;
  setState(state);
}

// stop ends the WHIP session with DELETE, then releases everything.
async function stop() {
  $('stop').disabled = true;
  const pc = st.pc;
  const resource = st.resource;
  // Forgotten first, so that the hangup the DELETE brings about is not
  // taken for the server ending the session.
  st.pc = null;
  st.resource = null;
  if (resource) {
    try {
      const resp = await fetch(resource, { method: 'DELETE', headers: headers() });
      st.deleteStatus = resp.status;
      log(`DELETE: ${resp.status}`);
    } catch (e) {
      log('DELETE: ' + e.message);
    }
  }
  if (pc) pc.close();
  release('stopped');
}

// Leaving the page ends the session at once; without this the server
// would notice only when ICE fails, half a minute later.
window.addEventListener('pagehide', () => {
  if (st.resource) fetch(st.resource, { method: 'DELETE', headers: headers(), keepalive: true });
});

// ianuaPublisherStats is for the browser test.
window.ianuaPublisherStats = async () => {
  const out = {
    state: st.state,
    connectionState: st.pc ? st.pc.connectionState : 'closed',
    resource: st.resource || '',
    deleteStatus: st.deleteStatus,
    packetsSent: 0,
  };
  if (st.pc) {
    for (const r of (await st.pc.getStats()).values()) {
      if (r.type === 'outbound-rtp') out.packetsSent += r.packetsSent || 0;
    }
  }
  return out;
};

$('display').value = params.get('display') || $('display').value;
$('token').value = params.get('token') || '';
$('start').onclick = start;
$('stop').onclick = stop;
if (params.get('room')) $('watch-link').href = 'watch.html?room=' + encodeURIComponent(params.get('room'));
if (params.get('autostart') === '1') {
  start();
} else {
  // Show the WHIP URL before Start, for those who publish from OBS.
  findRoom().then((room) => { st.room = room; $('whip-url').value = whipURL(); }, (e) => log(e.message));
}
