// ianua VideoRoom client: plain JavaScript, no build step, no dependencies.
//
// One WebSocket, two handles on the VideoRoom plugin:
//   publisher:  joins the room (ptype "publisher"), receives the room's
//               events, and publishes camera, microphone and a data channel
//               on a PeerConnection where the browser offers;
//   subscriber: receives every remote feed on ONE PeerConnection
//               (multistream) where the plugin offers and the browser
//               answers with "start".
// The protocol is in README.md.
'use strict';

const $ = (id) => document.getElementById(id);
const pluginName = 'janus.plugin.videoroom';
const query = new URLSearchParams(location.search);
const roomId = Number(query.get('room')) || 1234;

// svcMode, from ?svc=, is the scalability mode of SVC publishing (e.g.
// L3T3_KEY: three spatial and three temporal layers), in svcCodec, from
// ?svccodec=: VP9 (the default) or AV1.
const svcMode = new URLSearchParams(location.search).get('svc') || '';
const svcCodec = (new URLSearchParams(location.search).get('svccodec') || 'VP9').toUpperCase();

// keepaliveMs is well under the server's 60 s session timeout.
const keepaliveMs = 25000;

// The simulcast encodings, lowest first: the plugin numbers them as
// substreams 0, 1 and 2 (with a 640x480 camera: 160x120, 320x240, 640x480).
const simulcastEncodings = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1500000 },
];

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
    talking: false,
    pubHandle: 0,
    subHandle: 0,
    pub: peerSlot(),
    sub: peerSlot(),
    pubAnswered: null, // resolves when the answer to our offer is applied
    local: null, // camera + microphone
    dc: null, // our data channel, for the chat
    subDc: null, // the plugin's data channel: everybody else's chat
    screen: null, // the shared screen, while sharing
    screenSender: null,
    screenBusy: false, // a screen share renegotiation is under way
    feeds: new Map(), // remote publisher id -> {id, display, streams, talking, requested, tile}
    subStreams: new Map(), // subscriber mid -> its entry in the "attached"/"updated" streams
    media: new Map(), // subscriber mid -> {el, feedId}
    layers: new Map(), // subscriber mid -> substream asked for
    subJoined: false,
    subOps: [], // subscriptions and unsubscriptions waiting for their turn
    subBusy: false,
    chat: [], // messages received
  };
}

let st = newState();

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
  $('simulcast').disabled = true;
  try {
    st.display = display;
    st.ws = await connect();
    st.timers.push(setInterval(() => send({ type: 'keepalive' }), keepaliveMs));
    st.timers.push(setInterval(() => refreshTiles().catch(() => {}), 1000));
    st.pubHandle = await attach();
    log(`publisher handle ${st.pubHandle}`);

    // Rooms other than the demo room are made on first use.
    const ex = await message(st.pubHandle, { request: 'exists', room: roomId });
    if (!ex.data.exists) {
      try {
        await message(st.pubHandle, {
          request: 'create', room: roomId, description: `Room ${roomId}`,
          publishers: 6, audiolevel_event: true,
          // VP9 and AV1 too, for publishers that send them with spatial
          // layers (?svc=).
          videocodec: 'vp8,vp9,h264,av1',
        });
        log(`room ${roomId} created`);
      } catch (e) {
        if (e.code !== 427) throw e; // 427: someone else just created it
      }
    }
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
    if (st.pubAnswered) { st.pubAnswered(); st.pubAnswered = null; }
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
      // Our first publication is up: screen sharing may renegotiate it.
      if (d.configured === 'ok' && !st.screenBusy) $('screen').disabled = false;
      break;
    case 'talking':
    case 'stopped-talking':
      setTalking(d.id, d.videoroom === 'talking');
      break;
    case 'destroyed':
      log(`room ${d.room} was destroyed`);
      leave();
      break;
  }
}

async function publishOwnFeed() {
  const simulcast = $('simulcast').checked;
  const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  st.local = local;
  $('local-video').srcObject = local;

  const pc = newPeerConnection(st.pub, st.pubHandle, 'pub-state');
  const sent = [];
  for (const track of local.getTracks()) {
    const init = { direction: 'sendonly', streams: [local] };
    if (track.kind === 'video' && simulcast) init.sendEncodings = simulcastEncodings.map((e) => ({ ...e }));
    // VP9 or AV1 with spatial and temporal layers in one stream (SVC),
    // e.g. ?svc=L3T3_KEY: subscribers pick a layer with spatial_layer.
    if (track.kind === 'video' && svcMode) init.sendEncodings = [{ scalabilityMode: svcMode }];
    const tr = pc.addTransceiver(track, init);
    if (track.kind === 'video' && svcMode) {
      const codecs = RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === `video/${svcCodec}`);
      tr.setCodecPreferences(codecs);
    }
    sent.push([tr, track.kind === 'video' ? 'camera' : 'microphone']);
  }
  // The data channel must exist before the offer, so that the offer has
  // an m=application section: the chat goes through it.
  const dc = pc.createDataChannel('JanusDataChannel');
  st.dc = dc;
  dc.onopen = () => { $('chat-text').disabled = false; $('chat-send').disabled = false; };
  dc.onclose = () => { $('chat-text').disabled = true; $('chat-send').disabled = true; };

  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  // mids exist once the offer is applied. The answer comes as the JSEP
  // of the "configured" event.
  const descriptions = sent.map(([tr, description]) => ({ mid: tr.mid, description }));
  await message(st.pubHandle, { request: 'publish', descriptions }, pc.localDescription);
  log(`publishing${simulcast ? ' with simulcast' : ''}`);
}

// renegotiate sends a new offer of the publisher PeerConnection with
// "configure" and waits for its answer.
async function renegotiate(descriptions) {
  const pc = st.pub.pc;
  const answered = new Promise((resolve) => { st.pubAnswered = resolve; });
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const body = { request: 'configure' };
  if (descriptions) body.descriptions = descriptions();
  await message(st.pubHandle, body, pc.localDescription);
  await answered;
}

// toggleScreen adds a screen (or, where the browser cannot capture one,
// a second camera track) to what we publish, or takes it away.
async function toggleScreen() {
  const btn = $('screen');
  btn.disabled = true;
  st.screenBusy = true;
  try {
    if (st.screen) {
      const s = st.screen;
      st.screen = null;
      st.pub.pc.removeTrack(st.screenSender);
      st.screenSender = null;
      for (const t of s.getTracks()) t.stop();
      $('local-screen').hidden = true;
      await renegotiate(null);
      btn.textContent = 'Share screen';
      btn.className = '';
      return;
    }
    let stream;
    let what = 'screen';
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (e) {
      log(`getDisplayMedia: ${e.name}; sharing a second camera track instead`);
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
      what = 'second camera';
    }
    const track = stream.getVideoTracks()[0];
    const tr = st.pub.pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
    st.screen = stream;
    st.screenSender = tr.sender;
    track.onended = () => { if (st.screen === stream) toggleScreen(); };
    const preview = $('local-screen');
    preview.srcObject = stream;
    preview.hidden = false;
    await renegotiate(() => [{ mid: tr.mid, description: 'screen' }]);
    log(`sharing ${what} on mid ${tr.mid}`);
    btn.textContent = 'Stop sharing';
    btn.className = 'on';
  } catch (e) {
    log('screen share failed: ' + e.message);
  } finally {
    st.screenBusy = false;
    btn.disabled = !st.joined;
  }
}

function leave() {
  if (st.ws) st.ws.close(); // the server destroys the session: we leave the room
  reset();
}

// reset closes everything and shows the join form again.
function reset() {
  for (const t of st.timers) clearInterval(t);
  for (const slot of [st.pub, st.sub]) if (slot.pc) slot.pc.close();
  for (const s of [st.local, st.screen]) if (s) for (const t of s.getTracks()) t.stop();
  st = newState();
  $('tiles').textContent = '';
  $('participants').textContent = '';
  $('pub-state').textContent = 'new';
  $('sub-state').textContent = 'new';
  for (const id of ['leave', 'screen', 'chat-text', 'chat-send']) $(id).disabled = true;
  $('screen').textContent = 'Share screen';
  $('screen').className = '';
  for (const id of ['join', 'display', 'simulcast']) $(id).disabled = false;
}

// ---- the room: remote feeds ---------------------------------------------

// addPublishers takes new or changed feeds and subscribes to the streams
// we do not have yet: audio, video and data alike.
function addPublishers(list) {
  for (const p of list) {
    if (p.id === st.myId) continue;
    let f = st.feeds.get(p.id);
    if (!f) {
      f = { id: p.id, display: '', streams: [], talking: !!p.talking, requested: new Set(), tile: null };
      st.feeds.set(p.id, f);
    }
    f.display = p.display || f.display || `#${p.id}`;
    f.streams = p.streams || [];
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
    // The plugin opens one data channel and relays on it the chat of
    // every feed whose data stream we subscribed to.
    pc.ondatachannel = (e) => {
      st.subDc = e.channel;
      e.channel.onmessage = (ev) => onChat(ev.data);
    };
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
  fig.innerHTML = '<figcaption><span class="dot"></span><span class="name"></span><span class="id"></span></figcaption>' +
    '<div class="stream"><video id="local-video" autoplay playsinline muted></video></div>' +
    '<div class="stream"><video id="local-screen" autoplay playsinline muted hidden></video></div>';
  fig.querySelector('.name').textContent = `${st.display} (me)`;
  fig.querySelector('.id').textContent = `#${st.myId}`;
  $('tiles').prepend(fig);
  renderParticipants();
}

function ensureTile(f) {
  if (!f.tile) {
    const fig = document.createElement('figure');
    fig.id = `tile-${f.id}`;
    fig.innerHTML = '<figcaption><span class="dot"></span><span class="name"></span><span class="id"></span></figcaption><div class="streams"></div>';
    $('tiles').append(fig);
    f.tile = fig;
  }
  f.tile.querySelector('.name').textContent = f.display;
  f.tile.querySelector('.id').textContent = `#${f.id}`;
  f.tile.classList.toggle('talking', f.talking);
}

// showRemoteTrack puts a subscriber track in the tile of its feed, found
// by the track's mid in the streams list.
function showRemoteTrack(mid, track) {
  const s = st.subStreams.get(mid);
  if (!s) { log(`track on unknown mid ${mid}`); return; }
  removeMedia(mid);
  let f = st.feeds.get(s.feed_id);
  if (!f) {
    f = { id: s.feed_id, display: s.feed_display || `#${s.feed_id}`, streams: [], talking: false, requested: new Set(), tile: null };
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
    const pub = f.streams.find((x) => x.mid === s.feed_mid);
    el.dataset.description = (pub && pub.description) || 'video';
    if (pub && pub.simulcast) el.append(layerPicker(mid));
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
  st.layers.delete(mid);
}

// layerPicker asks the plugin for substream 0, 1 or 2 of a simulcast feed.
// It starts on 2, the plugin's default.
function layerPicker(mid) {
  const box = document.createElement('div');
  box.className = 'layers';
  for (const n of [0, 1, 2]) {
    const b = document.createElement('button');
    b.id = `layer-${mid}-${n}`;
    b.textContent = String(n);
    b.title = ['low', 'medium', 'high'][n] + ' quality';
    b.className = n === 2 ? 'on' : '';
    b.onclick = () => setSubstream(mid, n).catch((e) => log('substream failed: ' + e.message));
    box.append(b);
  }
  return box;
}

async function setSubstream(mid, n) {
  await message(st.subHandle, { request: 'configure', mid, substream: n });
  st.layers.set(mid, n);
  for (const k of [0, 1, 2]) {
    const b = $(`layer-${mid}-${k}`);
    if (b) b.className = k === n ? 'on' : '';
  }
}

function setTalking(id, on) {
  if (id === st.myId) {
    st.talking = on;
    const t = $('tile-local');
    if (t) t.classList.toggle('talking', on);
  } else {
    const f = st.feeds.get(id);
    if (!f) return;
    f.talking = on;
    if (f.tile) f.tile.classList.toggle('talking', on);
  }
  renderParticipants();
}

function renderParticipants() {
  const ul = $('participants');
  ul.textContent = '';
  const row = (name, talking) => {
    const li = document.createElement('li');
    li.className = talking ? 'talking' : '';
    const dot = document.createElement('span');
    dot.className = 'dot';
    const label = document.createElement('span');
    label.textContent = name;
    li.append(dot, label);
    ul.append(li);
  };
  if (st.joined) row(`${st.display} (me)`, st.talking);
  for (const f of st.feeds.values()) row(f.display, f.talking);
}

// refreshTiles writes each remote video's size and frame rate on it.
async function refreshTiles() {
  const s = await roomStats();
  for (const v of s.inboundVideo) {
    const m = st.media.get(v.mid);
    const info = m && m.el.querySelector('.info');
    if (!info) continue;
    const size = v.frameWidth ? `${v.frameWidth}×${v.frameHeight} · ${v.fps} fps` : '…';
    info.textContent = `${m.el.dataset.description} · ${size}`;
  }
}

// ---- chat -----------------------------------------------------------------

// The plugin relays the bytes as they are: we send JSON with our name.
function sendChat(text) {
  if (!st.dc || st.dc.readyState !== 'open' || !text) return false;
  st.dc.send(JSON.stringify({ from: st.display, text }));
  chatLine(`${st.display} (me): ${text}`);
  return true;
}

function onChat(data) {
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    msg = null;
  }
  if (!msg || typeof msg.text !== 'string') msg = { from: '?', text: String(data) };
  st.chat.push({ from: String(msg.from), text: msg.text });
  chatLine(`${msg.from}: ${msg.text}`);
}

function chatLine(text) {
  const el = $('chat-log');
  el.textContent += text + '\n';
  el.scrollTop = el.scrollHeight;
}

// ---- statistics and test hooks ------------------------------------------

// roomStats reads the subscriber PeerConnection's inbound streams, by mid
// and feed, for the tiles and for the browser test.
async function roomStats() {
  const out = {
    joined: st.joined,
    myId: st.myId,
    publishers: st.feeds.size,
    inboundVideo: [],
    inboundAudio: [],
    connectionStates: {
      pub: st.pub.pc ? st.pub.pc.connectionState : 'new',
      sub: st.sub.pc ? st.sub.pc.connectionState : 'new',
    },
    dataChannels: {
      pub: st.dc ? st.dc.readyState : 'none',
      sub: st.subDc ? st.subDc.readyState : 'none',
    },
    sharing: !!st.screen,
    chat: st.chat.slice(),
  };
  out.outboundVideo = await outboundVideo();
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
        substream: st.layers.has(mid) ? st.layers.get(mid) : null,
        codec: report.get(r.codecId)?.mimeType || '',
      });
    } else if (r.kind === 'audio') {
      out.inboundAudio.push({ mid, feedId: s.feed_id, packetsReceived: r.packetsReceived || 0 });
    }
  });
  return out;
}

// outboundVideo lists what our publisher PeerConnection sends: one entry
// per video stream, or per simulcast encoding (rid).
async function outboundVideo() {
  const out = [];
  if (!st.pub.pc) return out;
  const report = await st.pub.pc.getStats();
  report.forEach((r) => {
    if (r.type !== 'outbound-rtp' || r.kind !== 'video') return;
    out.push({
      mid: r.mid, rid: r.rid || '', active: r.active !== false,
      frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0, framesEncoded: r.framesEncoded || 0,
      bytesSent: r.bytesSent || 0, qualityLimitationReason: r.qualityLimitationReason || '',
    });
  });
  out.sort((a, b) => (a.mid + a.rid).localeCompare(b.mid + b.rid));
  return out;
}

window.ianuaRoomStats = roomStats;
// ianuaSpatialLayer asks for a VP9 SVC feed's spatial layer (0 lowest).
window.ianuaSpatialLayer = (mid, n) => message(st.subHandle, { request: 'configure', mid, spatial_layer: n });
// ianuaChat sends text to the room; false if the data channel is not open.
window.ianuaChat = sendChat;

// ---- controls -------------------------------------------------------------

$('room').textContent = String(roomId);
$('display').value = query.get('display') || '';
$('simulcast').checked = query.get('simulcast') === '1';
$('join').onclick = join;
$('display').onkeydown = (e) => { if (e.key === 'Enter') join(); };
$('leave').onclick = leave;
$('screen').onclick = toggleScreen;
$('chat-send').onclick = () => {
  if (sendChat($('chat-text').value)) $('chat-text').value = '';
};
$('chat-text').onkeydown = (e) => { if (e.key === 'Enter') $('chat-send').click(); };

if (query.get('autojoin') === '1' && $('display').value) join();
