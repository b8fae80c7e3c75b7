// ianua WHEP player (draft-ietf-wish-whep): plain JavaScript, no build
// step, no dependencies.
//
// Steps: list the room's publishers from /feeds, and for the chosen one
// offer recvonly audio and video, wait for ICE gathering (no trickle: every
// candidate goes in the offer), POST the offer to /whep/{room}/{feed} as
// application/sdp, apply the 201's answer and play the tracks that arrive.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// gatherTimeoutMs bounds the wait for ICE gathering, as in publish.js.
const gatherTimeoutMs = 2000;
// waitForFeedMs is how often autostart looks for a publisher to play.
const waitForFeedMs = 1000;

const st = {
  state: 'idle',
  room: params.get('room') ? Number(params.get('room')) : 0,
  pc: null,
  resource: null, // the Location of the WHEP session
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

function whepURL(feed) {
  return `${location.origin}/whep/${st.room}/${feed}`;
}

function showURL() {
  const feed = $('feeds').value;
  $('whep-url').value = feed ? whepURL(feed) : '';
}

// loadFeeds fills the list with the room's publishing feeds, keeping the
// choice (or ?feed=) when it is still there, and returns them.
async function loadFeeds() {
  const q = st.room ? '?room=' + st.room : '';
  const resp = await fetch('/feeds' + q, { headers: headers() });
  if (!resp.ok) throw new Error(`GET /feeds: ${resp.status} ${(await resp.text()).trim()}`);
  const reply = await resp.json();
  st.room = reply.room;
  const feeds = reply.feeds.filter((f) => f.publishing);
  const sel = $('feeds');
  const want = sel.value || params.get('feed') || '';
  sel.replaceChildren();
  for (const f of feeds) {
    const opt = document.createElement('option');
    opt.value = String(f.id);
    opt.textContent = `${f.display} (${f.id})`;
    sel.append(opt);
  }
  if (feeds.length === 0) sel.append(new Option('(none yet)', ''));
  if (feeds.some((f) => String(f.id) === want)) sel.value = want;
  showURL();
  return feeds;
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

async function play(feed) {
  await stop();
  $('play').disabled = true;
  setState('connecting');
  try {
    const pc = new RTCPeerConnection();
    st.pc = pc;
    // One audio and one video m-line: the server gives each the next
    // stream of its kind of the feed.
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

    const url = whepURL(feed);
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
    // The server hangs up when the publisher leaves: its DTLS close_notify
    // closes the transport at once, while connectionState would wait for
    // ICE consent to time out.
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

// autostart plays ?feed=, or the first publishing feed, waiting for one
// to appear.
async function autostart() {
  setState('waiting for a publisher');
  for (;;) {
    try {
      const feeds = await loadFeeds();
      const want = params.get('feed');
      const feed = want ? feeds.find((f) => String(f.id) === want) : feeds[0];
      if (feed) return play(feed.id);
    } catch (e) {
      log(e.message);
    }
    await new Promise((resolve) => setTimeout(resolve, waitForFeedMs));
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
$('feeds').onchange = showURL;
$('refresh').onclick = () => loadFeeds().catch((e) => log(e.message));
$('play').onclick = () => {
  const feed = $('feeds').value;
  if (feed) play(feed); else log('no feed to play: publish first, then Refresh');
};
$('stop').onclick = stop;
if (params.get('autostart') === '1') autostart();
else loadFeeds().catch((e) => log(e.message));
