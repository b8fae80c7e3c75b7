// ianua WHEP player (draft-ietf-wish-whep): plain JavaScript, no build
// step, no dependencies.
//
// Steps: list the room's publishers from /feeds and the RTP mountpoints
// from /mountpoints, and for the chosen one offer recvonly audio and video,
// wait for ICE gathering (no trickle: every candidate goes in the offer),
// POST the offer to /whep/{room}/{feed} or /whep/mountpoint/{id} as
// application/sdp, apply the 201's answer and play the tracks that arrive.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// gatherTimeoutMs bounds the wait for ICE gathering, as in publish.js.
const gatherTimeoutMs = 2000;
// waitForStreamMs is how often autostart looks for something to play.
const waitForStreamMs = 1000;

const st = {
  state: 'idle',
  room: params.get('room') ? Number(params.get('room')) : 0,
  pc: null,
  resource: null, // the Location of the WHEP session
  stream: '', // what plays: "feed:ID" or "mountpoint:ID"
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

function headers(extra) {
  const h = Object.assign({}, extra);
  const token = $('token').value.trim();
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

// A stream to play is named "feed:ID" (a publisher of the room) or
// "mountpoint:ID" (an RTP mountpoint), as the values of the list.
function whepURL(stream) {
  const [kind, id] = stream.split(':');
  if (kind === 'mountpoint') {
    const pin = params.get('pin');
    return `${location.origin}/whep/mountpoint/${id}` + (pin ? '?pin=' + encodeURIComponent(pin) : '');
  }
  return `${location.origin}/whep/${st.room}/${id}`;
}

function showURL() {
  const stream = $('streams').value;
  $('whep-url').value = stream ? whepURL(stream) : '';
}

async function getJSON(path) {
  const resp = await fetch(path, { headers: headers() });
  if (!resp.ok) throw new Error(`GET ${path}: ${resp.status} ${(await resp.text()).trim()}`);
  return resp.json();
}

// loadStreams fills the list with the room's publishing feeds and the
// mountpoints, keeping the choice (or ?feed=, ?mountpoint=) when it is
// still there, and returns them.
async function loadStreams() {
  const [reply, mps] = await Promise.all([
    getJSON('/feeds' + (st.room ? '?room=' + st.room : '')),
    getJSON('/mountpoints'),
  ]);
  st.room = reply.room;
  const feeds = reply.feeds.filter((f) => f.publishing);
  const mountpoints = mps.mountpoints;
  const sel = $('streams');
  const want = sel.value || (params.get('mountpoint') ? 'mountpoint:' + params.get('mountpoint') : '') ||
    (params.get('feed') ? 'feed:' + params.get('feed') : '');
  sel.replaceChildren();
  const group = (label, items, text) => {
    if (items.length === 0) return;
    const g = document.createElement('optgroup');
    g.label = label;
    for (const [value, t] of items.map(text)) g.append(new Option(t, value));
    sel.append(g);
  };
  group(`Room ${st.room} publishers`, feeds, (f) => ['feed:' + f.id, `${f.display} (${f.id})`]);
  group('RTP mountpoints', mountpoints, (m) => ['mountpoint:' + m.id,
    `mountpoint ${m.id}: ` + m.streams.map((s) => `${s.codec} :${s.port}`).join(' + ') +
    (m.receiving ? '' : ' (no RTP yet)')]);
  if (feeds.length + mountpoints.length === 0) sel.append(new Option('(none yet)', ''));
  if ([...sel.options].some((o) => o.value === want)) sel.value = want;
  showURL();
  return { feeds, mountpoints };
}

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

async function play(stream) {
  await stop();
  $('play').disabled = true;
  setState('connecting');
  st.stream = stream;
  try {
    const pc = new RTCPeerConnection();
    st.pc = pc;
    // One audio and one video m-line: the server gives each the next
    // stream of its kind of the feed or the mountpoint.
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    const remote = new MediaStream();
    $('video').srcObject = remote;
    pc.ontrack = (e) => {
      log('track: ' + e.track.kind);
      remote.addTrack(e.track);
    };
    pc.onconnectionstatechange = () => {
      log('connection: ' + pc.connectionState);
      if (st.pc !== pc) return;
      if (pc.connectionState === 'connected') setState('playing');
      if (pc.connectionState === 'failed') end('failed');
    };

    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, gatherTimeoutMs);

    const url = whepURL(stream);
    const resp = await fetch(url, {
      method: 'POST',
      headers: headers({ 'Content-Type': 'application/sdp' }),
      body: pc.localDescription.sdp,
    });
    const body = await resp.text();
    if (resp.status !== 201) throw new Error(`WHEP POST: ${resp.status} ${body.trim()}`);
    st.resource = new URL(resp.headers.get('Location'), url).href;
    log('WHEP session ' + st.resource);
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    // The server hangs up when the publisher leaves or the mountpoint is
    // destroyed: its DTLS close_notify closes the transport at once, while
    // connectionState would wait for ICE consent to time out.
    const dtls = pc.getReceivers()[0].transport;
    dtls.onstatechange = () => {
      log('DTLS: ' + dtls.state);
      if (st.pc === pc && dtls.state === 'closed') end('ended');
    };
    $('stop').disabled = false;
  } catch (e) {
    log('error: ' + e.message);
    await stop();
    setState('failed');
  }
}

// end forgets the playback without telling the server, which ended it.
function end(state) {
  if (st.pc) st.pc.close();
  st.pc = null;
  st.resource = null;
  $('video').srcObject = null;
  $('stop').disabled = true;
  $('play').disabled = false;
  setState(state);
}

// stop ends the WHEP session with DELETE.
async function stop() {
  const pc = st.pc;
  const resource = st.resource;
  // Forgotten first, so that the hangup the DELETE brings about is not
  // taken for the server ending the playback.
  st.pc = null;
  st.resource = null;
  if (resource) {
    try {
      const resp = await fetch(resource, { method: 'DELETE', headers: headers() });
      log(`DELETE: ${resp.status}`);
    } catch (e) {
      log('DELETE: ' + e.message);
    }
  }
  if (pc) pc.close();
  end('stopped');
}

// autostart plays ?mountpoint= or ?feed=, or else the first publishing
// feed or the first mountpoint receiving RTP, waiting for one to appear.
async function autostart() {
  setState('waiting for a stream');
  const wantMP = params.get('mountpoint');
  const wantFeed = params.get('feed');
  for (;;) {
    try {
      const { feeds, mountpoints } = await loadStreams();
      if (wantMP) {
        if (mountpoints.some((m) => String(m.id) === wantMP)) return play('mountpoint:' + wantMP);
      } else if (wantFeed) {
        if (feeds.some((f) => String(f.id) === wantFeed)) return play('feed:' + wantFeed);
      } else if (feeds.length > 0) {
        return play('feed:' + feeds[0].id);
      } else {
        const live = mountpoints.find((m) => m.receiving);
        if (live) return play('mountpoint:' + live.id);
      }
    } catch (e) {
      log(e.message);
    }
    await new Promise((resolve) => setTimeout(resolve, waitForStreamMs));
  }
}

window.addEventListener('pagehide', () => {
  if (st.resource) fetch(st.resource, { method: 'DELETE', headers: headers(), keepalive: true });
});

// ianuaPlayerStats is for the browser test: what the player received and
// decoded so far.
window.ianuaPlayerStats = async () => {
  const out = {
    state: st.state,
    stream: st.stream,
    connectionState: st.pc ? st.pc.connectionState : 'closed',
    framesDecoded: 0,
    audioPacketsReceived: 0,
  };
  if (st.pc) {
    for (const r of (await st.pc.getStats()).values()) {
      if (r.type !== 'inbound-rtp') continue;
      if (r.kind === 'video') out.framesDecoded += r.framesDecoded || 0;
      if (r.kind === 'audio') out.audioPacketsReceived += r.packetsReceived || 0;
    }
  }
  return out;
};

$('token').value = params.get('token') || '';
if (st.room) $('publish-link').href = 'publish.html?room=' + st.room;
$('streams').onchange = showURL;
$('refresh').onclick = () => loadStreams().catch((e) => log(e.message));
$('play').onclick = () => {
  const stream = $('streams').value;
  if (stream) play(stream); else log('nothing to play: publish or send RTP first, then Refresh');
};
$('stop').onclick = stop;
if (params.get('autostart') === '1') autostart();
else loadStreams().catch((e) => log(e.message));
