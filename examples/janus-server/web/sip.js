// SIP phone with janus.js: attach to janus.plugin.sip and speak its
// language. "register" (username, secret, proxy, display_name) answers
// with registering, then registered or registration_failed; "call" (uri)
// goes with an audio offer and is answered by "accepted" with the SIP
// peer's answer; an "incomingcall" event brings the caller's offer, which
// "accept" answers; "hangup" ends either; "dtmf_info" sends a key in a SIP
// INFO, and the peer's keys come back as "dtmf" events.
//
// Query parameters (besides those of common.js): user, secret, proxy and
// display fill the form; autoregister=1 registers at once; call=URI fills
// the target and, with autoregister, calls it once registered;
// autoaccept=1 answers incoming calls by itself.
'use strict';

const el = (id) => document.getElementById(id);

let janus = null;
let sip = null;               // the janus.js plugin handle
let registration = 'unregistered'; // registering, registered, failed, unregistering
let guest = false;
let callState = 'idle';       // calling, ringing, incoming, incall
let peer = '';                // who the call is with
let incomingOffer = null;     // the caller's JSEP until accept or decline
let failure = null;           // {code, reason} of the last registration_failed or plugin error
let lastHangup = null;        // {code, reason} of the last ended call
let calls = 0;                // calls that were up
let hangups = 0;              // calls that ended
let dtmfReceived = '';        // the peer's keys, in order
let autoCalled = false;
// The audio element gets the stream with its first track: one with an
// empty stream would hold the page's load event until a call.
const remote = new MediaStream();

for (const f of ['user', 'secret', 'proxy', 'display']) el(f).value = params.get(f) || '';
el('target').value = params.get('call') || '';

function setStatus() {
  let text = {
    unregistered: 'not registered',
    registering: 'registering…',
    registered: guest ? `registered as a guest (${el('user').value})` : `registered as ${el('user').value}`,
    failed: failure ? `registration failed: ${failure.code} ${failure.reason}` : 'registration failed',
    unregistering: 'unregistering…',
  }[registration];
  switch (callState) {
    case 'calling': text += `; calling ${peer}…`; break;
    case 'ringing': text += `; ${peer} is ringing`; break;
    case 'incoming': text += `; incoming call from ${peer}`; break;
    case 'incall': text += `; in a call with ${peer}`; break;
  }
  el('status').textContent = text;
  const registered = registration === 'registered';
  el('register').textContent = registered && !guest ? 'Unregister' : 'Register';
  el('register').disabled = registration === 'registering' || registration === 'unregistering' || (registered && guest);
  el('call').disabled = !registered || callState !== 'idle';
  el('answer').disabled = callState !== 'incoming';
  el('decline').disabled = callState !== 'incoming';
  el('hangup').disabled = callState === 'idle' || callState === 'incoming';
  for (const b of el('keypad').querySelectorAll('button')) b.disabled = callState !== 'incall';
}

function setCall(state, who) {
  callState = state;
  if (who !== undefined) peer = who;
  setStatus();
}

// attach starts janus.js and attaches to the SIP plugin, once.
async function attach() {
  if (sip) return sip;
  janus = await startJanus();
  return new Promise((resolve, reject) => {
    janus.attach({
      plugin: 'janus.plugin.sip',
      opaqueId: 'sip-' + Janus.randomString(8),
      success: (handle) => {
        sip = handle;
        log(`attached to ${handle.getPlugin()}, handle ${handle.getId()}`);
        resolve(handle);
      },
      error: (err) => { log(`attach failed: ${err}`); reject(new Error(String(err))); },
      onmessage: onMessage,
      webrtcState: (on, reason) => log(`PeerConnection ${on ? 'up' : 'down'}${reason ? ' (' + reason + ')' : ''}`),
      mediaState: (kind, on, mid) => log(`server ${on ? 'receives' : 'no longer receives'} ${kind} (mid ${mid})`),
      onremotetrack: (track, mid, on) => {
        if (on) {
          remote.addTrack(track);
          el('remote').srcObject = remote;
        } else {
          remote.removeTrack(track);
        }
      },
      oncleanup: () => {
        for (const t of remote.getTracks()) remote.removeTrack(t);
        el('remote').srcObject = null;
        log('PeerConnection cleaned up');
      },
    });
  });
}

async function register() {
  if (registration === 'registered') {
    registration = 'unregistering';
    setStatus();
    sip.send({ message: { request: 'unregister' } });
    return;
  }
  const username = el('user').value.trim();
  const secret = el('secret').value;
  if (!username) { log('the SIP identity is missing (sip:user@domain)'); return; }
  registration = 'registering';
  failure = null;
  setStatus();
  try {
    await attach();
  } catch (err) {
    registration = 'failed';
    failure = { code: 0, reason: String(err.message || err) };
    setStatus();
    return;
  }
  const msg = { request: 'register', username };
  guest = !secret;
  if (guest) msg.type = 'guest';
  else msg.secret = secret;
  if (el('proxy').value.trim()) msg.proxy = el('proxy').value.trim();
  if (el('display').value.trim()) msg.display_name = el('display').value.trim();
  log(`registering ${username}${guest ? ' as a guest' : ''}${msg.proxy ? ' at ' + msg.proxy : ''}`);
  sip.send({ message: msg });
}

function call() {
  const uri = el('target').value.trim();
  if (!uri) { log('the call target is missing (sip:user@domain)'); return; }
  setCall('calling', uri);
  sip.createOffer({
    tracks: [{ type: 'audio', capture: true, recv: true }],
    success: (jsep) => {
      log(`calling ${uri}`);
      sip.send({ message: { request: 'call', uri }, jsep });
    },
    error: (err) => { log(`offer failed: ${err}`); setCall('idle'); },
  });
}

function answer() {
  const offer = incomingOffer;
  incomingOffer = null;
  if (!offer) return;
  sip.createAnswer({
    jsep: offer,
    tracks: [{ type: 'audio', capture: true, recv: true }],
    success: (jsep) => {
      log(`answering ${peer}`);
      sip.send({ message: { request: 'accept' }, jsep });
    },
    error: (err) => {
      log(`answer failed: ${err}`);
      sip.send({ message: { request: 'decline', code: 488 } });
    },
  });
  el('answer').disabled = true;
  el('decline').disabled = true;
}

function decline() {
  incomingOffer = null;
  sip.send({ message: { request: 'decline' } });
  el('answer').disabled = true;
  el('decline').disabled = true;
}

function hangup() {
  el('hangup').disabled = true;
  sip.send({ message: { request: 'hangup' } });
}

function onMessage(msg, jsep) {
  if (msg.error) {
    log(`plugin error ${msg.error_code}: ${msg.error}`);
    if (registration === 'registering') {
      registration = 'failed';
      failure = { code: msg.error_code, reason: msg.error };
    }
    if (callState === 'calling') {
      sip.hangup();
      callState = 'idle';
    }
    setStatus();
    return;
  }
  const r = msg.result || {};
  switch (r.event) {
    case 'registering':
      log('registering');
      break;
    case 'registered':
      log(`registered as ${r.username}${r.register_sent === false ? ' (no REGISTER sent)' : ''}`);
      registration = 'registered';
      setStatus();
      if (params.get('autoregister') && el('target').value && !autoCalled) {
        autoCalled = true;
        call();
      }
      break;
    case 'registration_failed':
      log(`registration failed: ${r.code} ${r.reason}`);
      registration = 'failed';
      failure = { code: r.code, reason: r.reason };
      setStatus();
      break;
    case 'unregistered':
      log(`unregistered ${r.username}`);
      registration = 'unregistered';
      setStatus();
      break;
    case 'calling':
      log(`calling, Call-ID ${r.call_id}`);
      break;
    case 'proceeding':
      log(`proceeding (${r.code})`);
      break;
    case 'ringing':
      setCall('ringing');
      break;
    case 'progress':
      // 183 with SDP: early media, the answer comes now.
      log(`early media from ${r.username}`);
      if (jsep) sip.handleRemoteJsep({ jsep, error: (err) => log(`bad answer: ${err}`) });
      break;
    case 'accepted':
      log(`call accepted${r.username ? ' by ' + r.username : ''}`);
      if (jsep) sip.handleRemoteJsep({ jsep, error: (err) => { log(`bad answer: ${err}`); hangup(); } });
      calls++;
      setCall('incall', r.username || peer);
      break;
    case 'incomingcall':
      log(`incoming call from ${r.displayname ? '"' + r.displayname + '" ' : ''}${r.username}${r.srtp ? ' (' + r.srtp + ')' : ''}`);
      incomingOffer = jsep;
      setCall('incoming', r.username);
      if (params.get('autoaccept')) answer();
      break;
    case 'missed_call':
      log(`missed call from ${r.caller}`);
      break;
    case 'hangingup':
    case 'declining':
      log(r.event);
      break;
    case 'hangup':
      log(`call ended: ${r.code} ${r.reason}`);
      lastHangup = { code: r.code, reason: r.reason };
      hangups++;
      incomingOffer = null;
      sip.hangup(); // the plugin closes the PeerConnection; clean up here too
      setCall('idle', '');
      break;
    case 'dtmfsent':
      log('DTMF sent');
      break;
    case 'dtmf':
      log(`DTMF from ${r.sender}: ${r.signal}`);
      dtmfReceived += r.signal;
      break;
    case 'info':
      log(`INFO (${r.type}): ${r.content}`);
      break;
    default:
      log(`event: ${JSON.stringify(msg)}`);
  }
}

el('account').onsubmit = (e) => { e.preventDefault(); register(); };
el('call').onclick = call;
el('answer').onclick = answer;
el('decline').onclick = decline;
el('hangup').onclick = hangup;
for (const b of el('keypad').querySelectorAll('button')) {
  b.onclick = () => {
    log(`sending DTMF ${b.dataset.digit}`);
    sip.send({ message: { request: 'dtmf_info', digit: b.dataset.digit } });
  };
}

// inboundAudio sums the inbound audio statistics of a PeerConnection.
async function inboundAudio(pc) {
  const out = { packetsReceived: 0, audioEnergy: 0 };
  if (!pc) return out;
  const stats = await pc.getStats();
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out.packetsReceived += s.packetsReceived || 0;
      out.audioEnergy += s.totalAudioEnergy || 0;
    }
  });
  return out;
}

// ianuaStats is what the browser test reads.
window.ianuaStats = async () => {
  const pc = sip && sip.webrtcStuff && sip.webrtcStuff.pc;
  const a = await inboundAudio(pc);
  const s = {
    registration, call: callState, peer, failure, lastHangup, calls, hangups, dtmf: dtmfReceived,
    packetsReceived: a.packetsReceived, audioEnergy: a.audioEnergy,
  };
  el('stats').textContent = `registration ${registration}, call ${callState}, audio packets received: ${a.packetsReceived}`;
  return s;
};
setInterval(window.ianuaStats, 1000);

setStatus();
if (params.get('autoregister')) register();
