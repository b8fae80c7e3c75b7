// Streaming with janus.js, the way Janus's streaming demo uses the plugin:
// attach to janus.plugin.streaming and "list" the mountpoints; "watch" {id}
// brings a "preparing" event with the plugin's offer, which the page
// answers, receiving only, with "start"; "starting" follows, then
// "started" once the PeerConnection is up. "pause" and "start" hold and
// resume the media; "switch" {id} moves the same PeerConnection to another
// mountpoint (a "switched" event, no new offer); "stop" ends the watching
// ("stopping", and the server hangs the PeerConnection up); "info" tells a
// mountpoint's streams and viewers. A mountpoint destroyed under us says
// "stopped".
//
// Query parameters (besides those of common.js): autowatch=ID watches
// mountpoint ID as soon as the list is in.
'use strict';

const el = (id) => document.getElementById(id);

let streaming = null;      // the janus.js plugin handle
let state = 'connecting';  // connecting, ready, preparing, starting, started, paused, stopping, stopped, failed
let up = false;            // the PeerConnection is up (webrtcState)
let watching = null;       // id of the mountpoint watched, once the plugin said so
let noMedia = false;       // the mountpoint's input stopped (ianua's "no-media" event)
let mountpoints = [];      // the last "list"
let lastPC = null;         // the PeerConnection of the last answer
let peerConnections = 0;   // PeerConnections janus.js made for this page
let offers = 0;            // offers of the plugin answered
let lastInfo = null;       // the last "info" answer
let lastError = null;      // {code, reason} of the last plugin error
let autowatch = params.get('autowatch');
// Each element gets its stream with the stream's first track: an element
// with an empty stream would hold the page's load event until a watch.
const video = new MediaStream();
const audio = new MediaStream();
const mids = new Map();     // mid -> the remote track

function describe(id) {
  const m = mountpoints.find((m) => m.id === id);
  return m ? `${id} (${m.description || 'no description'})` : String(id);
}

function setState(s) {
  state = s;
  const text = {
    connecting: 'connecting…',
    ready: 'not watching',
    preparing: `preparing mountpoint ${describe(watching)}…`,
    starting: `starting mountpoint ${describe(watching)}…`,
    started: `watching mountpoint ${describe(watching)}`,
    paused: `mountpoint ${describe(watching)} paused`,
    stopping: 'stopping…',
    stopped: 'stopped',
    failed: 'failed: see the log',
  }[state] || state;
  el('status').textContent = text + (noMedia && (state === 'started' || state === 'paused') ? ' (no media coming in)' : '');
  const attached = streaming !== null;
  const active = ['preparing', 'starting', 'started', 'paused'].includes(state);
  el('mountpoints').disabled = !attached;
  el('refresh').disabled = !attached;
  el('info').disabled = !attached;
  el('watch').disabled = !attached || state === 'stopping' || (!active && mountpoints.length === 0);
  el('watch').textContent = active ? 'Stop' : 'Watch';
  el('switch').disabled = !(state === 'started' || state === 'paused');
  el('pause').disabled = !(state === 'started' || state === 'paused');
  el('pause').textContent = state === 'paused' ? 'Resume' : 'Pause';
}

function selected() {
  return Number(el('mountpoints').value);
}

async function connect() {
  let janus;
  try {
    janus = await startJanus();
  } catch (err) {
    setState('failed');
    return;
  }
  janus.attach({
    plugin: 'janus.plugin.streaming',
    opaqueId: 'streaming-' + Janus.randomString(8),
    success: (handle) => {
      streaming = handle;
      log(`attached to ${handle.getPlugin()}, handle ${handle.getId()}`);
      setState('ready');
      list();
    },
    error: (err) => { log(`attach failed: ${err}`); setState('failed'); },
    onmessage: onMessage,
    webrtcState: (on, reason) => {
      up = on;
      log(`PeerConnection ${on ? 'up' : 'down'}${reason ? ' (' + reason + ')' : ''}`);
      if (on && state === 'starting') setState('started');
    },
    iceState: (s) => log(`ICE ${s}`),
    slowLink: (uplink, lost, mid) => log(`slow link: ${lost} packets lost ${uplink ? 'sending' : 'receiving'} (mid ${mid})`),
    onremotetrack: onRemoteTrack,
    oncleanup: () => {
      // The PeerConnection is gone (our "stop", or the server's hangup):
      // the handle stays, ready to watch again.
      log('cleaned up');
      for (const s of [video, audio]) for (const t of s.getTracks()) s.removeTrack(t);
      mids.clear();
      el('caption').textContent = 'no stream';
      up = false;
      watching = null;
      noMedia = false;
      setState('stopped');
    },
  });
}

// list asks for the public mountpoints (a synchronous request: the answer
// comes to success).
function list() {
  streaming.send({
    message: { request: 'list' },
    success: (res) => {
      if (!res || res.error) { log(`list failed: ${res ? res.error : 'no answer'}`); return; }
      mountpoints = (res.list || []).sort((a, b) => a.id - b.id);
      const keep = selected();
      const sel = el('mountpoints');
      sel.textContent = '';
      for (const m of mountpoints) {
        const kinds = (m.media || []).map((s) => s.type).join('+');
        const opt = new Option(`${m.id}: ${m.description || ''} (${kinds})`, m.id);
        sel.add(opt);
      }
      if (mountpoints.some((m) => m.id === keep)) sel.value = keep;
      log(`${mountpoints.length} mountpoint(s): ${mountpoints.map((m) => m.id).join(', ') || 'none'}`);
      if (autowatch) {
        const id = Number(autowatch);
        autowatch = null;
        sel.value = id;
        watch(id);
        return;
      }
      setState(state);
    },
    error: (err) => log(`list failed: ${err}`),
  });
}

function watch(id) {
  log(`watch ${id}`);
  watching = id;
  setState('preparing');
  streaming.send({ message: { request: 'watch', id }, error: (err) => log(`watch failed: ${err}`) });
}

function stop() {
  log('stop');
  setState('stopping');
  streaming.send({ message: { request: 'stop' } });
}

function switchTo(id) {
  log(`switch to ${id}`);
  streaming.send({ message: { request: 'switch', id } });
}

function togglePause() {
  streaming.send({ message: { request: state === 'paused' ? 'start' : 'pause' } });
}

function info(id) {
  streaming.send({
    message: { request: 'info', id },
    success: (res) => {
      if (!res || res.error) { log(`info failed: ${res ? res.error : 'no answer'}`); return; }
      lastInfo = res.info;
      const media = (lastInfo.media || []).map((m) => `${m.mid}: ${m.type} ${m.codec || ''}${m.age_ms >= 0 ? '' : ' (no media)'}`);
      log(`info ${lastInfo.id}: "${lastInfo.description || ''}", ${lastInfo.viewers} viewer(s), ${media.join('; ')}`);
    },
    error: (err) => log(`info failed: ${err}`),
  });
}

function onMessage(msg, jsep) {
  if (msg.error) {
    lastError = { code: msg.error_code, reason: msg.error };
    log(`plugin error ${msg.error_code}: ${msg.error}`);
    if (state === 'preparing') { watching = null; setState(up ? 'started' : 'ready'); }
    return;
  }
  const result = msg.result || {};
  if (result.status) {
    log(`status ${result.status}`);
    switch (result.status) {
      case 'preparing': setState('preparing'); break;
      // "starting" answers "start", the first one and after a pause; the
      // first "started" comes when the PeerConnection is up.
      case 'starting': setState(up ? 'started' : 'starting'); break;
      case 'started': setState('started'); break;
      case 'pausing': setState('paused'); break;
      // The server hangs up too; whichever comes first, the watching is over
      // once the PeerConnection is gone.
      case 'stopping': setState(streaming.webrtcStuff.pc ? 'stopping' : 'stopped'); break;
      case 'stopped': watching = null; setState('stopped'); break;
      // ianua extras: the mountpoint's input stopped, and came back.
      case 'no-media': noMedia = true; setState(state); break;
      case 'media': noMedia = false; setState(state); break;
    }
  } else if (result.switched) {
    log(`switched to ${result.id}`);
    watching = result.id;
    el('mountpoints').value = result.id;
    setState(state);
  } else if (Object.keys(result).length > 0) {
    log(`event: ${JSON.stringify(result)}`);
  }
  if (jsep && jsep.type === 'offer') answer(jsep);
}

// answer answers the plugin's offer: audio and video are not listed, so
// janus.js takes them receive-only; data is listed so that a mountpoint
// with a data stream gets its channel.
function answer(jsep) {
  streaming.createAnswer({
    jsep,
    tracks: [{ type: 'data' }],
    success: (ans) => {
      offers++;
      const pc = streaming.webrtcStuff.pc;
      if (pc !== lastPC) { lastPC = pc; peerConnections++; }
      streaming.send({ message: { request: 'start' }, jsep: ans });
    },
    error: (err) => { log(`answer failed: ${err}`); setState('failed'); },
  });
}

function onRemoteTrack(track, mid, on, meta) {
  const reason = meta && meta.reason;
  log(`remote ${track.kind} track, mid ${mid}: ${on ? 'on' : 'off'}${reason ? ' (' + reason + ')' : ''}`);
  const stream = track.kind === 'video' ? video : audio;
  const media = el(track.kind);
  if (on) {
    mids.set(mid, track);
    // One track of each kind: a new one replaces the old.
    for (const t of stream.getTracks()) if (t !== track) stream.removeTrack(t);
    if (!stream.getTracks().includes(track)) stream.addTrack(track);
    if (media.srcObject !== stream) media.srcObject = stream;
    if (track.kind === 'video') el('caption').textContent = `mountpoint ${describe(watching)}, mid ${mid}`;
  } else if (reason === 'ended') {
    stream.removeTrack(track);
    if (mids.get(mid) === track) mids.delete(mid);
  }
}

el('refresh').onclick = list;
el('watch').onclick = () => {
  if (['preparing', 'starting', 'started', 'paused'].includes(state)) stop();
  else watch(selected());
};
el('switch').onclick = () => switchTo(selected());
el('pause').onclick = togglePause;
el('info').onclick = () => info(selected());

// inbound sums the inbound RTP statistics of the PeerConnection.
async function inbound() {
  const out = { framesDecoded: 0, frameWidth: 0, frameHeight: 0, videoSSRC: 0, audioPackets: 0, video: null };
  const pc = streaming && streaming.webrtcStuff && streaming.webrtcStuff.pc;
  if (!pc) return out;
  (await pc.getStats()).forEach((s) => {
    if (s.type !== 'inbound-rtp') return;
    if (s.kind === 'video') {
      out.framesDecoded += s.framesDecoded || 0;
      if (s.frameWidth) { out.frameWidth = s.frameWidth; out.frameHeight = s.frameHeight; }
      out.videoSSRC = s.ssrc;
      // What explains a stall: losses, NACKs, keyframe requests.
      out.video = { packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, framesReceived: s.framesReceived,
        keyFramesDecoded: s.keyFramesDecoded, framesDropped: s.framesDropped, nackCount: s.nackCount, pliCount: s.pliCount,
        firCount: s.firCount, freezeCount: s.freezeCount };
    } else if (s.kind === 'audio') {
      out.audioPackets += s.packetsReceived || 0;
    }
  });
  return out;
}

// ianuaStats is what the browser test reads.
window.ianuaStats = async () => {
  const s = await inbound();
  const pc = !!(streaming && streaming.webrtcStuff && streaming.webrtcStuff.pc);
  const out = { state, watching, mountpoints: mountpoints.map((m) => m.id), pc, peerConnections, offers, mids: [...mids.keys()].sort(),
    info: lastInfo && { id: lastInfo.id, viewers: lastInfo.viewers }, error: lastError, ...s };
  el('stats').textContent = `state ${state}, video ${s.frameWidth}x${s.frameHeight}, frames decoded ${s.framesDecoded}, audio packets ${s.audioPackets}`;
  return out;
};
setInterval(window.ianuaStats, 1000);

connect();
