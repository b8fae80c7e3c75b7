// ianua cluster client: plain JavaScript, no build step, no dependencies.
// It is examples/videoroom's page cut down to camera, microphone and the
// room, plus what the node says of the cluster (GET /api/cluster).
//
// One WebSocket to the node that served the page, two handles on its
// VideoRoom plugin:
//   publisher:  joins the room (ptype "publisher"), receives the room's
//               events, and publishes camera and microphone on a
//               PeerConnection where the browser offers;
//   subscriber: receives every other feed on ONE PeerConnection
//               (multistream) where the plugin offers and the browser
//               answers with "start".
// Feeds published on other nodes are remote publishers of the same room on
// this node: the page treats them like the others. The protocol is
// examples/videoroom's (its README.md, "Signaling").
'use strict';

const $ = (id) => document.getElementById(id);
const pluginName = 'janus.plugin.videoroom';
const query = new URLSearchParams(location.search);
// Rooms must exist on every node (the nodes are started with the same
// rooms; clients cannot create any): the demo room 1234.
const roomId = Number(query.get('room')) || 1234;

// keepaliveMs is well under the server's 60 s session timeout.
const keepaliveMs = 25000;
// statusMs: how often the page asks its node about the cluster.
const statusMs = 2000;

// One negotiation per PeerConnection at a time: each has a promise chain
// its JSEP events run on, and the server candidates that came before its
// remote description.
function peerSlot() {
  return { pc: null, queued: [], chain: Promise.resolve() };
}

function newState() {
  return {
    ws: null,
    txSeq: 0,
    pending: new Map(), // tx -> {resolve, reject}
    timers: [],
    display: '',
    joined: false,
    myId: null,
    privateId: null,
    pubHandle: 0,
    subHandle: 0,
    pub: peerSlot(),
    sub: peerSlot(),
    local: null, // camera + microphone
    feeds: new Map(), // remote publisher id -> {id, display, streams, requested, tile}
    subStreams: new Map(), // subscriber mid -> its entry in the "attached"/"updated" streams
    media: new Map(), // subscriber mid -> {el, feedId}
    subJoined: false,
    subOps: [], // subscriptions and unsubscriptions waiting for their turn
    subBusy: false,
  };
}

let st = newState();
// The last GET /api/cluster: {node, nodes, feeds}. It outlives a leave.
let cluster = { node: '', nodes: [], feeds: [] };

function log(text) {
  const el = $('log');
  el.textContent += new Date().toISOString().slice(11, 23) + '  ' + text + '\n';
  el.scrollTop = el.scrollHeight;
}

// ---- signaling ----------------------------------------------------------

function connect() {
  return new Promise((resolve, reject) => {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws`);
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error('WebSocket error'));
    ws.onclose = (e) => {
      log(`signaling closed (${e.code}${e.reason ? ' ' + e.reason : ''})`);
      for (const p of st.pending.values()) p.reject(new Error('signaling closed'));
      st.pending.clear();
      if (st.ws === ws) reset();
    };
    ws.onmessage = (e) => onServerMessage(JSON.parse(e.data));
  });
}

function send(msg) {
  if (st.ws && st.ws.readyState === WebSocket.OPEN) st.ws.send(JSON.stringify(msg));
}

// call sends a message with a new tx and resolves with the server's "ack"
// or "success", or rejects with its "error" (err.code is the error code).
// The outcome of an acknowledged plugin request comes later as an "event".
function call(msg) {
  msg.tx = 'tx' + (++st.txSeq);
  return new Promise((resolve, reject) => {
    st.pending.set(msg.tx, { resolve, reject });
    send(msg);
  });
}

async function attach() {
  const m = await call({ type: 'attach', plugin: pluginName });
  return m.handle;
}

function message(handle, body, jsep) {
  log(`${roleOf(handle)} → ${JSON.stringify(body)}${jsep ? ' + ' + jsep.type : ''}`);
  const msg = { type: 'message', handle, body };
  if (jsep) msg.jsep = { type: jsep.type, sdp: jsep.sdp };
  return call(msg);
}

function slotOf(handle) {
  if (handle && handle === st.pubHandle) return st.pub;
  if (handle && handle === st.subHandle) return st.sub;
  return null;
}

function roleOf(handle) {
  if (handle && handle === st.pubHandle) return 'publisher';
  if (handle && handle === st.subHandle) return 'subscriber';
  return `handle ${handle}`;
}

// onJSEPChain runs fn after the earlier events of that PeerConnection.
function onJSEPChain(slot, fn) {
  slot.chain = slot.chain.then(fn).catch((e) => log('error: ' + e));
}

function onServerMessage(m) {
  switch (m.type) {
    case 'ack':
    case 'success': {
      const p = st.pending.get(m.tx);
      if (p) { st.pending.delete(m.tx); p.resolve(m); }
      break;
    }
    case 'error': {
      log(`error ${m.code}: ${m.error}`);
      const p = st.pending.get(m.tx);
      if (p) {
        st.pending.delete(m.tx);
        const err = new Error(`${m.error} (${m.code})`);
        err.code = m.code;
        p.reject(err);
      }
      break;
    }
    case 'event': {
      const d = m.data || {};
      log(`${roleOf(m.handle)} event ${JSON.stringify(d)}${m.jsep ? ' + ' + m.jsep.type : ''}`);
      if (m.handle === st.pubHandle) onJSEPChain(st.pub, () => onPublisherEvent(d, m.jsep));
      else if (m.handle === st.subHandle) onJSEPChain(st.sub, () => onSubscriberEvent(d, m.jsep));
      break;
    }
    case 'trickle': {
      const slot = slotOf(m.handle);
      if (!slot || m.completed || !m.candidate) break;
      if (slot.pc && slot.pc.remoteDescription) addCandidate(slot.pc, m.candidate);
      else slot.queued.push(m.candidate);
      break;
    }
    case 'webrtcup':
      log(`${roleOf(m.handle)}: webrtcup, ICE and DTLS are up`);
      break;
    case 'media':
      log(`${roleOf(m.handle)}: server ${m.media.receiving ? 'receives' : 'stopped receiving'} ${m.media.type} (mid ${m.media.mid})`);
      break;
    case 'slowlink':
      log(`${roleOf(m.handle)}: slowlink, ${m.slowlink.lost} ${m.slowlink.media} packets lost (mid ${m.slowlink.mid}) ${m.slowlink.uplink ? 'on the way in' : 'on the way out'}`);
      break;
    default: // hangup, detached, timeout, destroyed
      log(`${m.handle ? roleOf(m.handle) + ': ' : ''}${m.type}${m.reason ? ' (' + m.reason + ')' : ''}`);
  }
}

function addCandidate(pc, c) {
  pc.addIceCandidate(c).catch((e) => log('candidate refused: ' + e));
}

// remoteApplied adds the candidates that waited for the remote description.
function remoteApplied(slot) {
  for (const c of slot.queued.splice(0)) addCandidate(slot.pc, c);
}

function newPeerConnection(slot, handle, stateEl) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  slot.pc = pc;
  pc.onicecandidate = (e) => {
    if (!e.candidate) send({ type: 'trickle', handle, completed: true });
    else if (e.candidate.candidate) send({ type: 'trickle', handle, candidate: e.candidate.toJSON() });
  };
  pc.onconnectionstatechange = () => { $(stateEl).textContent = pc.connectionState; };
  return pc;
}

// ---- joining and publishing ---------------------------------------------

async function join() {
  const display = $('display').value.trim();
  if (!display) { $('display').focus(); return; }
  $('join').disabled = true;
  $('display').disabled = true;
  try {
    st.display = display;
    st.ws = await connect();
    st.timers.push(setInterval(() => send({ type: 'keepalive' }), keepaliveMs));
    st.timers.push(setInterval(() => refreshTiles().catch(() => {}), 1000));
    st.pubHandle = await attach();
    log(`publisher handle ${st.pubHandle}`);

    const ex = await message(st.pubHandle, { request: 'exists', room: roomId });
    if (!ex.data.exists) throw new Error(`no room ${roomId} on node ${cluster.node}: rooms must exist on every node`);
    // The outcome, "joined", comes as an event (onPublisherEvent).
    await message(st.pubHandle, { request: 'join', ptype: 'publisher', room: roomId, display });
    $('leave').disabled = false;
  } catch (e) {
    log('join failed: ' + e.message);
    if (st.ws) st.ws.close();
    else reset();
  }
}

async function onPublisherEvent(d, jsep) {
  if (jsep && jsep.type === 'answer') {
    await st.pub.pc.setRemoteDescription(jsep);
    remoteApplied(st.pub);
  }
  switch (d.videoroom) {
    case 'joined':
      st.joined = true;
      st.myId = d.id;
      st.privateId = d.private_id;
      log(`joined room ${d.room} as ${d.id}`);
      addLocalTile();
      addPublishers(d.publishers || []);
      publishOwnFeed().catch((e) => log('publish failed: ' + e.message));
      break;
    case 'event':
      if (d.publishers) addPublishers(d.publishers);
      for (const key of ['leaving', 'unpublished', 'kicked']) {
        const id = d[key];
        if (id === undefined || id === 'ok') continue;
        if (id === st.myId) { log(`we were ${key}`); leave(); return; }
        removeFeed(id, key);
      }
      break;
    case 'destroyed':
      log(`room ${d.room} was destroyed`);
      leave();
      break;
  }
}

async function publishOwnFeed() {
  const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  st.local = local;
  $('local-video').srcObject = local;

  const pc = newPeerConnection(st.pub, st.pubHandle, 'pub-state');
  const sent = [];
  for (const track of local.getTracks()) {
    const tr = pc.addTransceiver(track, { direction: 'sendonly', streams: [local] });
    sent.push([tr, track.kind === 'video' ? 'camera' : 'microphone']);
  }
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  // mids exist once the offer is applied. The answer comes as the JSEP
  // of the "configured" event.
  const descriptions = sent.map(([tr, description]) => ({ mid: tr.mid, description }));
  await message(st.pubHandle, { request: 'publish', descriptions }, pc.localDescription);
  log('publishing');
}

function leave() {
  if (st.ws) st.ws.close(); // the server destroys the session: we leave the room
  reset();
}

// reset closes everything and shows the join form again.
function reset() {
  for (const t of st.timers) clearInterval(t);
  for (const slot of [st.pub, st.sub]) if (slot.pc) slot.pc.close();
  if (st.local) for (const t of st.local.getTracks()) t.stop();
  st = newState();
  $('tiles').textContent = '';
  $('participants').textContent = '';
  $('pub-state').textContent = 'new';
  $('sub-state').textContent = 'new';
  $('leave').disabled = true;
  for (const id of ['join', 'display']) $(id).disabled = false;
}

// ---- the room: other feeds, local or remote -----------------------------

// addPublishers takes new or changed feeds and subscribes to the streams
// we do not have yet.
function addPublishers(list) {
  for (const p of list) {
    if (p.id === st.myId) continue;
    let f = st.feeds.get(p.id);
    if (!f) {
      f = { id: p.id, display: '', streams: [], requested: new Set(), tile: null };
      st.feeds.set(p.id, f);
    }
    f.display = p.display || f.display || `#${p.id}`;
    f.streams = (p.streams || []).filter((s) => s.type === 'audio' || s.type === 'video');
    ensureTile(f);
    const mids = new Set(f.streams.map((s) => s.mid));
    for (const mid of f.requested) if (!mids.has(mid)) f.requested.delete(mid);
    const refs = f.streams.filter((s) => !f.requested.has(s.mid) && !s.disabled).map((s) => ({ feed: f.id, mid: s.mid }));
    for (const r of refs) f.requested.add(r.mid);
    if (refs.length) queueSub({ op: 'subscribe', feed: f.id, refs });
  }
  renderParticipants();
}

function removeFeed(id, why) {
  const f = st.feeds.get(id);
  if (!f) return;
  log(`feed ${id} (${f.display}) ${why}`);
  st.feeds.delete(id);
  st.subOps = st.subOps.filter((op) => op.feed !== id);
  for (const [mid, m] of st.media) if (m.feedId === id) removeMedia(mid);
  if (f.tile) f.tile.remove();
  renderParticipants();
  // The plugin drops the streams of a feed that goes away by itself (and
  // sends "updated"); unsubscribing says so explicitly and is harmless.
  if (st.subJoined && f.requested.size) queueSub({ op: 'unsubscribe', feed: id, refs: [{ feed: id }] });
}

function queueSub(op) {
  st.subOps.push(op);
  pumpSub();
}

// pumpSub sends the queued (un)subscriptions one request at a time: the
// first "join" makes the subscriber, later ones "subscribe" to it.
async function pumpSub() {
  if (st.subBusy) return;
  st.subBusy = true;
  const mine = st;
  try {
    while (mine.subOps.length && st === mine) {
      const op = mine.subOps.shift();
      if (op.op === 'unsubscribe') {
        await message(mine.subHandle, { request: 'unsubscribe', streams: op.refs }).catch((e) => log('unsubscribe failed: ' + e.message));
        continue;
      }
      const batch = [op];
      while (mine.subOps.length && mine.subOps[0].op === 'subscribe') batch.push(mine.subOps.shift());
      await subscribeBatch(batch);
    }
  } finally {
    mine.subBusy = false;
  }
}

async function subscribeBatch(batch) {
  const live = batch.filter((op) => st.feeds.has(op.feed));
  if (!live.length) return;
  try {
    await sendSubscribe(live.flatMap((op) => op.refs));
  } catch (e) {
    if (live.length === 1) { subscribeFailed(live[0], e); return; }
    // A request is all or nothing and one feed may have gone meanwhile:
    // try them one by one.
    for (const op of live) {
      if (!st.feeds.has(op.feed)) continue;
      try { await sendSubscribe(op.refs); } catch (e2) { subscribeFailed(op, e2); }
    }
  }
}

function subscribeFailed(op, e) {
  log(`subscribing to feed ${op.feed} failed: ${e.message}`);
  const f = st.feeds.get(op.feed);
  if (f) for (const r of op.refs) f.requested.delete(r.mid);
}

async function sendSubscribe(streams) {
  if (!st.subHandle) {
    st.subHandle = await attach();
    log(`subscriber handle ${st.subHandle}`);
  }
  if (!st.subJoined) {
    // The answer, "attached" with an offer, comes as an event.
    await message(st.subHandle, { request: 'join', ptype: 'subscriber', room: roomId, private_id: st.privateId, streams });
    st.subJoined = true;
  } else {
    await message(st.subHandle, { request: 'subscribe', streams });
  }
}

async function onSubscriberEvent(d, jsep) {
  switch (d.videoroom) {
    case 'attached':
    case 'updated':
      if (Array.isArray(d.streams)) setSubStreams(d.streams);
      break;
    case 'updating':
      // An offer comes once our answer to the previous one is in.
      break;
    case 'destroyed':
      leave();
      return;
  }
  if (jsep && jsep.type === 'offer') await answerSubscriber(jsep);
}

// answerSubscriber answers every offer of the plugin, first or later, with
// "start".
async function answerSubscriber(offer) {
  let pc = st.sub.pc;
  if (!pc) {
    pc = newPeerConnection(st.sub, st.subHandle, 'sub-state');
    pc.ontrack = (e) => showRemoteTrack(e.transceiver.mid, e.track);
  }
  await pc.setRemoteDescription(offer);
  remoteApplied(st.sub);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  await message(st.subHandle, { request: 'start' }, pc.localDescription);
}

// setSubStreams takes the plugin's list of our subscriber m-lines and drops
// the media of those no longer in it (or now for another feed).
function setSubStreams(list) {
  st.subStreams = new Map();
  for (const s of list) if (s.type !== 'data' && s.active !== false) st.subStreams.set(s.mid, s);
  for (const [mid, m] of st.media) {
    const s = st.subStreams.get(mid);
    if (!s || s.feed_id !== m.feedId) removeMedia(mid);
  }
}

// ---- tiles --------------------------------------------------------------

function addLocalTile() {
  const fig = document.createElement('figure');
  fig.id = 'tile-local';
  fig.innerHTML = '<figcaption><span class="name"></span><span class="id"></span><span class="badge where"></span></figcaption>' +
    '<div class="stream"><video id="local-video" autoplay playsinline muted></video></div>';
  fig.querySelector('.name').textContent = `${st.display} (me)`;
  fig.querySelector('.id').textContent = `#${st.myId}`;
  $('tiles').prepend(fig);
  showWhere(fig, false);
  renderParticipants();
}

function ensureTile(f) {
  if (!f.tile) {
    const fig = document.createElement('figure');
    fig.id = `tile-${f.id}`;
    fig.innerHTML = '<figcaption><span class="name"></span><span class="id"></span><span class="badge where"></span></figcaption><div class="streams"></div>';
    $('tiles').append(fig);
    f.tile = fig;
  }
  f.tile.querySelector('.name').textContent = f.display;
  f.tile.querySelector('.id').textContent = `#${f.id}`;
  showWhere(f.tile, isRemote(f.id));
}

// isRemote says whether a feed is published on another node, as the node
// last said (null: not known yet).
function isRemote(id) {
  const f = cluster.feeds.find((x) => x.id === id && x.room === roomId);
  return f ? f.remote : null;
}

function showWhere(el, remote) {
  const b = el.querySelector('.where');
  if (!b) return;
  b.textContent = remote === null ? '…' : remote ? 'relayed from another node' : `on ${cluster.node}`;
  b.style.background = remote ? '#8a5cc2' : nodeColor(cluster.node);
}

// showRemoteTrack puts a subscriber track in the tile of its feed, found
// by the track's mid in the streams list.
function showRemoteTrack(mid, track) {
  const s = st.subStreams.get(mid);
  if (!s) { log(`track on unknown mid ${mid}`); return; }
  removeMedia(mid);
  let f = st.feeds.get(s.feed_id);
  if (!f) {
    f = { id: s.feed_id, display: s.feed_display || `#${s.feed_id}`, streams: [], requested: new Set(), tile: null };
    st.feeds.set(f.id, f);
    renderParticipants();
  }
  ensureTile(f);
  let el;
  if (track.kind === 'video') {
    el = document.createElement('div');
    el.className = 'stream';
    el.dataset.mid = mid;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // the sound plays from the audio element
    video.srcObject = new MediaStream([track]);
    const info = document.createElement('span');
    info.className = 'info';
    el.append(video, info);
  } else {
    el = document.createElement('audio');
    el.autoplay = true;
    el.dataset.mid = mid;
    el.srcObject = new MediaStream([track]);
  }
  f.tile.querySelector('.streams').append(el);
  st.media.set(mid, { el, feedId: f.id });
}

function removeMedia(mid) {
  const m = st.media.get(mid);
  if (!m) return;
  m.el.remove();
  st.media.delete(mid);
}

function renderParticipants() {
  const ul = $('participants');
  ul.textContent = '';
  const row = (name, remote) => {
    const li = document.createElement('li');
    const label = document.createElement('span');
    label.textContent = name;
    const where = document.createElement('span');
    where.className = 'badge where';
    li.append(label, where);
    showWhere(li, remote);
    ul.append(li);
  };
  if (st.joined) row(`${st.display} (me)`, false);
  for (const f of st.feeds.values()) row(f.display, isRemote(f.id));
}

// refreshTiles writes each remote video's size and frame rate on it.
async function refreshTiles() {
  const s = await roomStats();
  for (const v of s.inboundVideo) {
    const m = st.media.get(v.mid);
    const info = m && m.el.querySelector('.info');
    if (!info) continue;
    info.textContent = v.frameWidth ? `${v.frameWidth}×${v.frameHeight} · ${v.fps} fps` : '…';
  }
}

// ---- the cluster, as this node sees it ----------------------------------

// nodeColor gives each node id a colour of its own.
function nodeColor(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h}, 55%, 42%)`;
}

async function refreshCluster() {
  const r = await fetch('/api/cluster', { cache: 'no-store' });
  if (!r.ok) throw new Error(`GET /api/cluster: ${r.status}`);
  cluster = await r.json();
  $('node').textContent = cluster.node;
  $('node').style.background = nodeColor(cluster.node);
  $('node-name').textContent = cluster.node;
  document.title = `ianua cluster · ${cluster.node}`;
  const body = $('nodes');
  body.textContent = '';
  for (const n of cluster.nodes) {
    const tr = document.createElement('tr');
    tr.className = n.id === cluster.node ? 'me' : '';
    for (const v of [n.id, n.sessions, n.feeds, n.relays_in, n.relays_out]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    body.append(tr);
  }
  for (const f of st.feeds.values()) ensureTile(f);
  const local = $('tile-local');
  if (local) showWhere(local, false);
  renderParticipants();
}

// ---- statistics and test hooks ------------------------------------------

// roomStats reads the subscriber PeerConnection's inbound streams, by mid
// and feed, for the tiles and for the browser test.
async function roomStats() {
  const out = {
    node: cluster.node,
    joined: st.joined,
    myId: st.myId,
    publishers: st.feeds.size,
    remoteFeeds: [...st.feeds.keys()].filter((id) => isRemote(id) === true),
    inboundVideo: [],
    inboundAudio: [],
    connectionStates: {
      pub: st.pub.pc ? st.pub.pc.connectionState : 'new',
      sub: st.sub.pc ? st.sub.pc.connectionState : 'new',
    },
  };
  const pc = st.sub.pc;
  if (!pc) return out;
  // Older browsers have no mid in the stats: find it by track.
  const midOfTrack = new Map();
  for (const t of pc.getTransceivers()) if (t.receiver.track) midOfTrack.set(t.receiver.track.id, t.mid);
  const report = await pc.getStats();
  report.forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    const mid = r.mid ?? midOfTrack.get(r.trackIdentifier);
    const s = st.subStreams.get(mid);
    if (!s) return; // an m-line no longer in use
    if (r.kind === 'video') {
      out.inboundVideo.push({
        mid, feedId: s.feed_id, feedMid: s.feed_mid,
        framesDecoded: r.framesDecoded || 0, bytesReceived: r.bytesReceived || 0,
        frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0, fps: r.framesPerSecond || 0,
      });
    } else if (r.kind === 'audio') {
      out.inboundAudio.push({ mid, feedId: s.feed_id, packetsReceived: r.packetsReceived || 0 });
    }
  });
  return out;
}

window.ianuaRoomStats = roomStats;

// ---- controls -------------------------------------------------------------

$('room').textContent = String(roomId);
$('display').value = query.get('display') || '';
$('join').onclick = join;
$('display').onkeydown = (e) => { if (e.key === 'Enter') join(); };
$('leave').onclick = leave;

const pollCluster = () => refreshCluster().catch((e) => log('cluster status: ' + e.message));
setInterval(pollCluster, statusMs);
// The node's name first, then join if asked to (autojoin=1, with a name).
pollCluster().then(() => {
  if (query.get('autojoin') === '1' && $('display').value) join();
});
