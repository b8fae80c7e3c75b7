// ianua SIP phone: plain JavaScript, no build step, no dependencies.
//
// One WebSocket is one phone: the server attaches a handle of the SIP
// gateway plugin (janus.plugin.sip) for it, a SIP user agent of its own.
// The page speaks the plugin's language, Janus SIP's:
//   register (username, secret, proxy, display_name, or type "guest"),
//   call (uri) with the browser's offer, accept with the answer to the
//   incomingcall offer, decline, hangup, hold, unhold, dtmf_info (digit);
// and follows its events: registering, registered, registration_failed,
// calling, ringing, progress, accepted, incomingcall, hangup, holding,
// resuming, dtmf, ... Each call gets a new RTCPeerConnection with the
// microphone, and the camera when "Video" is ticked (the gateway relays
// VP8 or H.264 with phones that do video); the plugin closes its side when
// the call ends.
// The signaling is in README.md.
'use strict';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);

// keepaliveMs is well under the server's 60 s session timeout.
const keepaliveMs = 25000;

const st = {
  ws: null, // the open WebSocket, once the server attached our handle
  connecting: null, // the promise of the WebSocket being opened
  keepalive: 0,
  txSeq: 0,
  pending: new Map(), // tx -> {resolve, reject}
  gateway: '', // the gateway's SIP address, host:port
  registration: 'unregistered', // registering, registered, guest, failed, unregistering
  identity: '',
  failure: null, // {code, reason} of the last registration_failed
  call: 'idle', // calling, ringing, incoming, incall, hangingup
  peer: '', // who the call is with
  callId: '',
  held: false,
  pc: null, // this call's RTCPeerConnection
  mic: null, // this call's microphone (and camera) stream
  remote: null, // the peer's audio
  remoteSet: false, // the remote description is applied: candidates go in
  serverCandidates: [], // the server's, until then
  descSent: false, // our offer or answer went out: candidates may follow
  localCandidates: [], // ours, until then
  incomingOffer: null, // the caller's JSEP until accept or decline
  calls: 0, // calls that were up
  hangups: 0, // calls that ended (hangup events)
  missed: 0, // missed_call events
  lastHangup: null, // {code, reason}
  lastError: null, // {code, reason} of the last refused request
  dtmfSent: '',
  dtmfReceived: '',
  autoCalled: false,
};

function log(text) {
  const el = $('log');
  el.textContent += new Date().toISOString().slice(11, 23) + '  ' + text + '\n';
  el.scrollTop = el.scrollHeight;
}

// serial runs fn after everything serial ran before: server events and
// the steps that build a PeerConnection must not interleave (a candidate
// goes in only after its description).
let chain = Promise.resolve();
function serial(fn) {
  chain = chain.then(fn).catch((e) => log('error: ' + (e && e.message ? e.message : e)));
  return chain;
}

// ---- signaling ----------------------------------------------------------

// connect opens the WebSocket, once; the server answers with "attached".
function connect() {
  if (st.ws) return Promise.resolve();
  if (!st.connecting) {
    st.connecting = new Promise((resolve, reject) => {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(`${proto}//${location.host}/ws`);
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === 'attached') {
          st.ws = ws;
          st.keepalive = setInterval(() => send({ type: 'keepalive' }), keepaliveMs);
          resolve();
        }
        onServerMessage(m);
      };
      ws.onerror = () => reject(new Error('WebSocket error'));
      ws.onclose = (e) => {
        reject(new Error('signaling closed'));
        if (st.ws === ws) disconnected(e);
      };
    }).finally(() => { st.connecting = null; });
  }
  return st.connecting;
}

// disconnected forgets the session: the server destroyed it, which hung
// up the call and withdrew the registration.
function disconnected(e) {
  log(`signaling closed (${e.code}${e.reason ? ' ' + e.reason : ''})`);
  clearInterval(st.keepalive);
  st.ws = null;
  for (const p of st.pending.values()) p.reject(new Error('signaling closed'));
  st.pending.clear();
  endCall();
  st.registration = 'unregistered';
  st.gateway = '';
  render();
}

function send(msg) {
  if (st.ws && st.ws.readyState === WebSocket.OPEN) st.ws.send(JSON.stringify(msg));
}

// request sends a SIP plugin request and resolves on "ack", rejects on
// "error" (err.code is the plugin's error code). The outcome comes later
// as events.
function request(body, jsep) {
  const tx = 'tx' + (++st.txSeq);
  const msg = { type: 'message', tx, body };
  if (jsep) msg.jsep = { type: jsep.type, sdp: jsep.sdp };
  const shown = body.secret ? { ...body, secret: '…' } : body;
  log(`→ ${JSON.stringify(shown)}${jsep ? ' + ' + jsep.type : ''}`);
  return new Promise((resolve, reject) => {
    if (!st.ws) { reject(new Error('not connected')); return; }
    st.pending.set(tx, { resolve, reject });
    send(msg);
  });
}

function onServerMessage(m) {
  switch (m.type) {
    case 'attached':
      st.gateway = m.sip || '';
      log(`connected: session ${m.session_id}, SIP handle ${m.handle_id}, gateway ${st.gateway}`);
      render();
      break;
    case 'ack':
    case 'success': {
      const p = st.pending.get(m.tx);
      if (p) { st.pending.delete(m.tx); p.resolve(m); }
      break;
    }
    case 'error': {
      log(`error ${m.code}: ${m.error}`);
      st.lastError = { code: m.code, reason: m.error };
      const p = st.pending.get(m.tx);
      if (p) {
        st.pending.delete(m.tx);
        const err = new Error(`${m.error} (${m.code})`);
        err.code = m.code;
        p.reject(err);
      }
      break;
    }
    case 'event':
      serial(() => onPluginEvent(m.data || {}, m.jsep));
      break;
    case 'trickle':
      if (m.completed || !m.candidate) break;
      serial(() => {
        if (st.pc && st.remoteSet) addCandidate(m.candidate);
        else st.serverCandidates.push(m.candidate);
      });
      break;
    case 'webrtcup':
      log('audio path up (ICE and DTLS)');
      break;
    case 'media':
      log(`server ${m.media.receiving ? 'receives' : 'no longer receives'} our ${m.media.type}`);
      break;
    case 'hangup':
      // The server closed its PeerConnection: the call is over (the
      // plugin's own "hangup" event follows).
      log(`PeerConnection closed by the server${m.reason ? ' (' + m.reason + ')' : ''}`);
      serial(closePeer);
      break;
    default: // slowlink, detached, timeout, destroyed
      log(m.type + (m.reason ? ': ' + m.reason : ''));
  }
}

// onPluginEvent follows the SIP plugin's events:
// {"sip":"event","result":{"event":...},"call_id":...}, or
// {"sip":"event","error_code":N,"error":"..."} for a request that failed
// after its ack.
async function onPluginEvent(d, jsep) {
  if (d.error_code) {
    log(`← error ${d.error_code}: ${d.error}`);
    st.lastError = { code: d.error_code, reason: d.error };
    if (st.registration === 'registering') {
      st.registration = 'failed';
      st.failure = { code: d.error_code, reason: d.error };
    }
    if (st.call === 'calling') endCall();
    render();
    return;
  }
  const r = d.result || {};
  const { event, ...rest } = r;
  log(`← ${event}${Object.keys(rest).length ? ' ' + JSON.stringify(rest) : ''}${jsep ? ' + ' + jsep.type : ''}`);
  switch (event) {
    case 'registering':
      st.registration = 'registering';
      break;
    case 'registered':
      st.registration = r.register_sent === false ? 'guest' : 'registered';
      st.failure = null;
      if (query.get('autoregister') && query.get('call') && !st.autoCalled) {
        st.autoCalled = true;
        serial(startCall);
      }
      break;
    case 'registration_failed':
      st.registration = 'failed';
      st.failure = { code: r.code, reason: r.reason };
      break;
    case 'unregistering':
      st.registration = 'unregistering';
      break;
    case 'unregistered':
      st.registration = 'unregistered';
      break;
    case 'calling':
      st.callId = d.call_id || r.call_id || '';
      break;
    case 'ringing':
      if (st.call === 'calling') st.call = 'ringing';
      break;
    case 'progress':
      // 183 with SDP: early media, the answer comes now.
      if (jsep) await applyRemote(jsep);
      if (st.call === 'calling') st.call = 'ringing';
      break;
    case 'accepted':
      if (jsep) await applyRemote(jsep);
      if (st.call !== 'incall') st.calls++;
      st.call = 'incall';
      st.held = false;
      if (r.username) st.peer = r.username;
      break;
    case 'incomingcall':
      st.incomingOffer = jsep;
      st.call = 'incoming';
      st.peer = r.displayname ? `"${r.displayname}" ${r.username}` : r.username;
      st.callId = d.call_id || r.call_id || '';
      if ($('autoaccept').checked) serial(accept);
      break;
    case 'missed_call':
      st.missed++;
      break;
    case 'holding':
      st.held = true;
      break;
    case 'resuming':
      st.held = false;
      break;
    case 'dtmf':
      st.dtmfReceived += r.signal;
      break;
    case 'hangup':
      endCall(r.code, r.reason);
      break;
    default:
      // proceeding, declining, hangingup, dtmfsent, info, message, ...:
      // the log line says it.
  }
  render();
}

// ---- calls --------------------------------------------------------------

// newPeer makes this call's PeerConnection and takes the microphone, and
// the camera if video is ticked.
async function newPeer() {
  st.mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: $('video').checked });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  st.pc = pc;
  st.remote = new MediaStream();
  pc.onicecandidate = (e) => {
    if (pc !== st.pc) return;
    const c = e.candidate ? e.candidate.toJSON() : null;
    if (c && !c.candidate) return;
    if (st.descSent) sendCandidate(c);
    else st.localCandidates.push(c);
  };
  pc.ontrack = (e) => {
    if (e.track.kind === 'video') {
      // The audio element plays the sound; the video one, muted, the
      // picture.
      const video = $('remote-video');
      video.srcObject = new MediaStream([e.track]);
      video.hidden = false;
      video.play().catch((err) => log(`cannot play the call's video: ${err.message}`));
      return;
    }
    st.remote.addTrack(e.track);
    const audio = $('remote');
    audio.srcObject = st.remote;
    audio.play().catch((err) => log(`cannot play the call's audio: ${err.message}`));
  };
  pc.onconnectionstatechange = () => {
    if (pc === st.pc) log(`PeerConnection ${pc.connectionState}`);
  };
  return pc;
}

// sendCandidate trickles one of our candidates; null says there are no
// more.
function sendCandidate(c) {
  send(c ? { type: 'trickle', candidate: c } : { type: 'trickle', completed: true });
}

// descriptionSent lets our candidates follow the offer or answer.
function descriptionSent() {
  st.descSent = true;
  for (const c of st.localCandidates.splice(0)) sendCandidate(c);
}

async function applyRemote(jsep) {
  if (!st.pc) return;
  await st.pc.setRemoteDescription(jsep);
  remoteApplied();
}

// remoteApplied adds the server's candidates that came before the remote
// description.
function remoteApplied() {
  st.remoteSet = true;
  for (const c of st.serverCandidates.splice(0)) addCandidate(c);
}

function addCandidate(c) {
  st.pc.addIceCandidate(c).catch((e) => log('candidate refused: ' + e));
}

// closePeer ends this call's media on our side.
function closePeer() {
  if (st.pc) {
    st.pc.close();
    st.pc = null;
  }
  if (st.mic) {
    for (const t of st.mic.getTracks()) t.stop();
    st.mic = null;
  }
  st.remote = null;
  st.remoteSet = false;
  st.descSent = false;
  st.serverCandidates = [];
  st.localCandidates = [];
  $('remote').srcObject = null;
  $('remote-video').srcObject = null;
  $('remote-video').hidden = true;
}

// endCall forgets the call; code is the hangup event's, if there was one.
function endCall(code, reason) {
  if (code !== undefined) {
    st.hangups++;
    st.lastHangup = { code, reason };
  }
  closePeer();
  st.call = 'idle';
  st.peer = '';
  st.callId = '';
  st.held = false;
  st.incomingOffer = null;
}

// targetURI makes a SIP URI of what was typed: a URI as it is,
// user@host with sip: in front, a bare number or name at the registrar's
// domain (else the identity's).
function targetURI() {
  const t = $('target').value.trim();
  if (!t) return '';
  if (/^sips?:/i.test(t)) return t;
  if (t.includes('@')) return 'sip:' + t;
  const domain = hostOf($('proxy').value) || hostOf($('identity').value);
  return domain ? `sip:${t}@${domain}` : '';
}

// hostOf returns the host[:port] of a SIP URI (or of user@host).
function hostOf(uri) {
  let s = uri.trim().replace(/^<|>$/g, '').replace(/^sips?:/i, '');
  s = s.slice(s.indexOf('@') + 1);
  return s.split(/[;?>]/)[0];
}

// startCall calls the number or URI of the target field.
async function startCall() {
  if (st.call !== 'idle') return;
  const uri = targetURI();
  if (!uri) { log('whom to call? Type a SIP URI (sip:bob@example.com) or a number'); return; }
  st.call = 'calling';
  st.peer = uri;
  render();
  try {
    const pc = await newPeer();
    pc.addTransceiver(st.mic.getAudioTracks()[0], { direction: 'sendrecv', streams: [st.mic] });
    // With video, a second m-line: the gateway offers the phone the
    // camera's VP8 and H.264; a phone without video refuses it and the
    // call goes on with audio.
    const cam = st.mic.getVideoTracks()[0];
    if (cam) pc.addTransceiver(cam, { direction: 'sendrecv', streams: [st.mic] });
    await pc.setLocalDescription(await pc.createOffer());
    await request({ request: 'call', uri }, pc.localDescription);
    descriptionSent();
  } catch (e) {
    log(`call failed: ${e.message}`);
    if (st.call === 'calling') endCall();
    render();
  }
}

// accept answers the ringing call with the microphone.
async function accept() {
  const offer = st.incomingOffer;
  if (!offer || st.call !== 'incoming') return;
  st.incomingOffer = null;
  render();
  try {
    const pc = await newPeer();
    await pc.setRemoteDescription(offer);
    remoteApplied();
    // The plugin offered a sendrecv audio m-line (and a video one if the
    // caller has video): addTrack puts the microphone (and the camera) on
    // its transceiver and makes it sendrecv. Without the camera the
    // caller's video still plays here.
    pc.addTrack(st.mic.getAudioTracks()[0], st.mic);
    const cam = st.mic.getVideoTracks()[0];
    if (cam && pc.getTransceivers().some((t) => t.receiver.track.kind === 'video')) pc.addTrack(cam, st.mic);
    await pc.setLocalDescription(await pc.createAnswer());
    await request({ request: 'accept' }, pc.localDescription);
    descriptionSent();
  } catch (e) {
    log(`cannot answer: ${e.message}`);
    closePeer();
    request({ request: 'decline', code: 488 }).catch(() => {});
  }
}

function decline() {
  if (st.call !== 'incoming') return;
  st.incomingOffer = null;
  request({ request: 'decline' }).catch(() => {});
  render();
}

function hangup() {
  if (st.call === 'incoming') { decline(); return; }
  if (st.call === 'idle') return;
  st.call = 'hangingup';
  render();
  request({ request: 'hangup' }).catch(() => {});
}

function toggleHold() {
  if (st.call !== 'incall') return;
  // hold sends a re-INVITE with a=sendonly: the peer stops sending (and
  // plays its music on hold, if it has some); unhold makes it sendrecv.
  request({ request: st.held ? 'unhold' : 'hold' }).catch(() => {});
}

// pressKey dials a digit when idle, and sends it as DTMF (SIP INFO,
// application/dtmf-relay) in a call.
function pressKey(digit) {
  if (st.call === 'incall') {
    st.dtmfSent += digit;
    render();
    request({ request: 'dtmf_info', digit }).catch(() => {});
    return;
  }
  if (st.call === 'idle') $('target').value += digit;
}

// ---- account ------------------------------------------------------------

async function register() {
  let identity = $('identity').value.trim();
  if (!identity) { log('the SIP identity is missing (sip:alice@example.com)'); return; }
  if (!/^sips?:/i.test(identity)) identity = 'sip:' + identity;
  const guest = $('guest').checked;
  const body = { request: 'register', username: identity };
  if (guest) {
    body.type = 'guest';
  } else {
    if ($('secret').value) body.secret = $('secret').value;
    let proxy = $('proxy').value.trim();
    if (proxy) {
      if (!/^sips?:/i.test(proxy)) proxy = 'sip:' + proxy;
      body.proxy = proxy;
    }
  }
  if ($('display').value.trim()) body.display_name = $('display').value.trim();
  st.identity = identity;
  st.registration = 'registering';
  st.failure = null;
  render();
  try {
    await connect();
    await request(body);
  } catch (e) {
    st.registration = 'failed';
    st.failure = { code: e.code || 0, reason: e.message };
    render();
  }
}

// signOut withdraws the registration; a guest, which has none, starts
// over with a new session (a new SIP user agent).
function signOut() {
  if (st.registration === 'registered') {
    request({ request: 'unregister' }).catch(() => {});
    return;
  }
  const ws = st.ws;
  if (ws) {
    ws.close();
    disconnected({ code: 1000, reason: 'signed out' });
    connect().catch((e) => log(`cannot reconnect: ${e.message}`));
  }
}

// ---- the page -----------------------------------------------------------

function render() {
  const reg = {
    unregistered: st.ws ? 'not registered' : 'not connected',
    registering: 'registering…',
    registered: `registered as ${st.identity}`,
    guest: `guest ${st.identity} (not registered: calls out only)`,
    failed: st.failure ? `registration failed: ${st.failure.code} ${st.failure.reason}` : 'registration failed',
    unregistering: 'unregistering…',
  }[st.registration];
  const call = {
    idle: '',
    calling: `calling ${st.peer}…`,
    ringing: `${st.peer} is ringing…`,
    incoming: `incoming call from ${st.peer}`,
    incall: `in a call with ${st.peer}${st.held ? ' (on hold)' : ''}`,
    hangingup: 'hanging up…',
  }[st.call];
  $('status').textContent = call ? `${reg} — ${call}` : reg;
  $('gateway').textContent = st.gateway || 'not connected';

  const signedIn = st.registration === 'registered' || st.registration === 'guest';
  const busy = st.registration === 'registering' || st.registration === 'unregistering';
  for (const id of ['identity', 'secret', 'proxy', 'display', 'guest']) $(id).disabled = signedIn || busy;
  $('register').disabled = signedIn || busy;
  $('unregister').disabled = !signedIn;
  $('call').disabled = !signedIn || st.call !== 'idle';
  $('hold').disabled = st.call !== 'incall';
  $('hold').textContent = st.held ? 'Resume' : 'Hold';
  $('hold').classList.toggle('held', st.held);
  $('hangup').disabled = st.call === 'idle' || st.call === 'hangingup';
  $('incoming').hidden = st.call !== 'incoming';
  $('caller').textContent = st.peer;
  $('accept').disabled = !st.incomingOffer;
  $('decline').disabled = st.call !== 'incoming';
  for (const b of $('keypad').querySelectorAll('button')) b.disabled = st.call !== 'idle' && st.call !== 'incall';
  $('dtmf-out').textContent = st.dtmfSent;
  $('dtmf-in').textContent = st.dtmfReceived;
}

// audioStats reads this call's audio (and video) statistics.
async function audioStats() {
  const out = { packetsReceived: 0, audioEnergy: 0, audioLevel: 0, packetsSent: 0, codec: '',
    videoPacketsReceived: 0, framesDecoded: 0, videoPacketsSent: 0, videoCodec: '' };
  if (!st.pc) return out;
  const stats = await st.pc.getStats();
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out.packetsReceived += s.packetsReceived || 0;
      out.audioEnergy += s.totalAudioEnergy || 0;
      out.audioLevel = Math.max(out.audioLevel, s.audioLevel || 0);
      const c = s.codecId && stats.get(s.codecId);
      if (c) out.codec = c.mimeType.replace(/^audio\//, '');
    } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
      out.packetsSent += s.packetsSent || 0;
    } else if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.videoPacketsReceived += s.packetsReceived || 0;
      out.framesDecoded += s.framesDecoded || 0;
      const c = s.codecId && stats.get(s.codecId);
      if (c) out.videoCodec = c.mimeType.replace(/^video\//, '');
    } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
      out.videoPacketsSent += s.packetsSent || 0;
    }
  });
  return out;
}

// ianuaPhoneStats is what the browser test reads: the phone's state and
// this call's inbound audio (packets, total energy from getStats).
window.ianuaPhoneStats = async () => {
  const a = await audioStats().catch(() => ({}));
  return {
    connected: !!st.ws,
    gateway: st.gateway,
    registration: st.registration,
    failure: st.failure,
    call: st.call,
    peer: st.peer,
    callId: st.callId,
    held: st.held,
    calls: st.calls,
    hangups: st.hangups,
    missed: st.missed,
    lastHangup: st.lastHangup,
    lastError: st.lastError,
    dtmfSent: st.dtmfSent,
    dtmfReceived: st.dtmfReceived,
    connectionState: st.pc ? st.pc.connectionState : 'none',
    codec: a.codec || '',
    packetsReceived: a.packetsReceived || 0,
    packetsSent: a.packetsSent || 0,
    audioEnergy: a.audioEnergy || 0,
    audioLevel: a.audioLevel || 0,
    videoCodec: a.videoCodec || '',
    videoPacketsReceived: a.videoPacketsReceived || 0,
    videoPacketsSent: a.videoPacketsSent || 0,
    framesDecoded: a.framesDecoded || 0,
  };
};

setInterval(async () => {
  if (!st.pc) { $('stats').textContent = ''; return; }
  const a = await audioStats().catch(() => null);
  if (!a) return;
  let text = `${a.codec || 'audio'}: ${a.packetsSent} packets sent, ${a.packetsReceived} received, level ${a.audioLevel.toFixed(3)}`;
  if (a.videoPacketsSent || a.videoPacketsReceived) {
    text += ` · ${a.videoCodec || 'video'}: ${a.videoPacketsSent} packets sent, ${a.videoPacketsReceived} received, ${a.framesDecoded} frames shown`;
  }
  $('stats').textContent = text;
}, 1000);

$('account').onsubmit = (e) => { e.preventDefault(); register(); };
$('unregister').onclick = signOut;
$('call').onclick = () => serial(startCall);
$('accept').onclick = () => serial(accept);
$('decline').onclick = decline;
$('hangup').onclick = hangup;
$('hold').onclick = toggleHold;
$('backspace').onclick = () => { $('target').value = $('target').value.slice(0, -1); };
$('target').onkeydown = (e) => { if (e.key === 'Enter' && !$('call').disabled) serial(startCall); };
for (const b of $('keypad').querySelectorAll('button')) b.onclick = () => pressKey(b.dataset.digit);
// Keys typed outside the form fields press the keypad.
document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
  if (/^[0-9*#]$/.test(e.key)) pressKey(e.key);
});

// Query parameters: identity (or user), secret, proxy, display and guest=1
// fill the form; call=URI the target; autoaccept=1 ticks "answer
// automatically", video=1 "Video"; autoregister=1 registers at once and then calls the
// target, if there is one.
$('identity').value = query.get('identity') || query.get('user') || '';
for (const f of ['secret', 'proxy', 'display']) $(f).value = query.get(f) || '';
$('guest').checked = !!query.get('guest');
$('target').value = query.get('call') || '';
$('autoaccept').checked = !!query.get('autoaccept');
$('video').checked = !!query.get('video');
render();
connect().then(() => {
  if (query.get('autoregister')) register();
}).catch((e) => log(`cannot connect: ${e.message}`));
