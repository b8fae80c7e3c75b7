// ianua EchoTest client: plain JavaScript, no build step, no dependencies.
//
// Steps: open the signaling WebSocket, take the camera and microphone,
// create the RTCPeerConnection and the data channel, send the offer with
// {"audio":true,"video":true}, trickle candidates both ways, apply the
// answer the plugin pushes as an event. The protocol is in README.md.
'use strict';

const $ = (id) => document.getElementById(id);

// keepaliveMs is well under the server's 60 s session timeout.
const keepaliveMs = 25000;

const st = {
  ws: null,
  pc: null,
  dc: null,
  local: null, // our camera + microphone
  remote: new MediaStream(), // the echo
  txSeq: 0,
  pending: new Map(), // tx -> {resolve, reject}
  answered: false, // the answer is applied: candidates go straight in
  queued: [], // server candidates that came before the answer
  audioOn: true,
  videoOn: true,
  dataEchoes: 0,
  prev: null, // last byte counters, for bitrates
  timers: [],
  substream: null, // the simulcast layer the plugin says it echoes
  videoCodec: '', // the codec of the plugin's layer events
};

// The page's options may come from the address too: ?vcodec=vp9&simulcast=1.
const query = new URLSearchParams(location.search);
if (query.get('vcodec')) $('vcodec').value = query.get('vcodec');
if (query.get('simulcast') === '1') $('simulcast').checked = true;
// ?opusred=1 asks for RED around Opus (Janus EchoTest's "opusred").
const opusred = query.get('opusred') === '1';

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
    };
    ws.onmessage = (e) => onServerMessage(JSON.parse(e.data));
  });
}

function send(msg) {
  if (st.ws && st.ws.readyState === WebSocket.OPEN) st.ws.send(JSON.stringify(msg));
}

// request sends a plugin message and resolves on "ack" (or "success"),
// rejects on "error". The plugin's outcome comes later as an "event".
function request(body, jsep) {
  const tx = 'tx' + (++st.txSeq);
  const msg = { type: 'message', tx, body };
  if (jsep) msg.jsep = { type: jsep.type, sdp: jsep.sdp };
  return new Promise((resolve, reject) => {
    st.pending.set(tx, { resolve, reject });
    send(msg);
  });
}

function onServerMessage(m) {
  switch (m.type) {
    case 'attached':
      log(`session ${m.session_id}, handle ${m.handle_id}`);
      break;
    case 'ack':
    case 'success': {
      const p = st.pending.get(m.tx);
      if (p) { st.pending.delete(m.tx); p.resolve(m); }
      break;
    }
    case 'error': {
      log(`error ${m.code}: ${m.error}`);
      const p = st.pending.get(m.tx);
      if (p) { st.pending.delete(m.tx); p.reject(new Error(`${m.error} (${m.code})`)); }
      break;
    }
    case 'event':
      log(`event ${JSON.stringify(m.data)}${m.jsep ? ' + ' + m.jsep.type : ''}`);
      if (m.data && m.data.substream !== undefined) {
        // Janus's layer event: the plugin now echoes this substream.
        st.substream = m.data.substream;
        st.videoCodec = m.data.videocodec || '';
        $('layer-box').hidden = false;
        $('layer-now').textContent = `(now ${['low', 'medium', 'high'][m.data.substream]})`;
      }
      if (m.jsep) applyAnswer(m.jsep).catch((e) => log('answer failed: ' + e));
      break;
    case 'trickle':
      if (m.completed) { log('server candidates complete'); break; }
      if (!st.answered) { st.queued.push(m.candidate); break; }
      addCandidate(m.candidate);
      break;
    case 'webrtcup':
      log('webrtcup: ICE and DTLS are up');
      break;
    case 'media':
      log(`media: server ${m.media.receiving ? 'receives' : 'stopped receiving'} ${m.media.type} (mid ${m.media.mid})`);
      break;
    case 'slowlink':
      log(`slowlink: ${m.slowlink.lost} ${m.slowlink.media} packets lost (mid ${m.slowlink.mid}) ${m.slowlink.uplink ? 'on the way in' : 'on the way out'}`);
      break;
    default: // hangup, detached, timeout, destroyed
      log(m.type + (m.reason ? ': ' + m.reason : ''));
  }
}

async function applyAnswer(jsep) {
  await st.pc.setRemoteDescription(jsep);
  st.answered = true;
  for (const c of st.queued.splice(0)) addCandidate(c);
}

function addCandidate(c) {
  st.pc.addIceCandidate(c).catch((e) => log('candidate refused: ' + e));
}

// ---- media --------------------------------------------------------------

async function start() {
  $('start').disabled = true;
  try {
    st.ws = await connect();
    // Simulcast needs a picture large enough for three layers.
    const size = $('simulcast').checked ? { width: 1280, height: 720 } : { width: 640, height: 480 };
    st.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: size });
    $('local').srcObject = st.local;

    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    st.pc = pc;
    pc.onconnectionstatechange = () => { $('state').textContent = pc.connectionState; };
    pc.onicecandidate = (e) => {
      if (!e.candidate) send({ type: 'trickle', completed: true });
      else if (e.candidate.candidate) send({ type: 'trickle', candidate: e.candidate.toJSON() });
    };
    pc.ontrack = (e) => {
      st.remote.addTrack(e.track);
      $('remote').srcObject = st.remote;
    };
    const simulcast = $('simulcast').checked;
    for (const t of st.local.getTracks()) {
      if (t.kind === 'video' && simulcast) {
        // Three layers (RFC 8853); the plugin echoes one of them.
        pc.addTransceiver(t, {
          direction: 'sendrecv', streams: [st.local],
          sendEncodings: [
            { rid: 'l', scaleResolutionDownBy: 4, maxBitrate: 150000 },
            { rid: 'm', scaleResolutionDownBy: 2, maxBitrate: 500000 },
            { rid: 'h', maxBitrate: 1500000 },
          ],
        });
      } else {
        pc.addTrack(t, st.local);
      }
    }
    $('vcodec').disabled = true;
    $('simulcast').disabled = true;

    // The data channel must exist before the offer, so that the offer has
    // an m=application section: the plugin can only echo what was offered.
    const dc = pc.createDataChannel('JanusDataChannel');
    st.dc = dc;
    dc.onopen = () => setDataOpen(true);
    dc.onclose = () => setDataOpen(false);
    dc.onmessage = (e) => {
      st.dataEchoes++;
      const el = $('data-log');
      el.textContent += `echo: ${e.data}\n`;
      el.scrollTop = el.scrollHeight;
    };

    // Send the offer as createOffer made it: its candidates follow as
    // trickles.
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const body = { audio: true, video: true };
    // Like Janus EchoTest: the answer keeps this codec, if we offered it.
    if ($('vcodec').value) body.videocodec = $('vcodec').value;
    if (opusred) body.opusred = true;
    await request(body, offer);

    st.timers.push(setInterval(() => send({ type: 'keepalive' }), keepaliveMs));
    st.timers.push(setInterval(() => showStats().catch(() => {}), 1000));
    for (const id of ['stop', 'audio', 'video', 'bitrate', 'keyframe']) $(id).disabled = false;
  } catch (e) {
    log('start failed: ' + e);
    $('start').disabled = false;
  }
}

function stop() {
  send({ type: 'hangup' });
  for (const t of st.timers) clearInterval(t);
  st.timers = [];
  if (st.pc) st.pc.close();
  if (st.local) for (const t of st.local.getTracks()) t.stop();
  if (st.ws) st.ws.close();
  $('state').textContent = 'closed';
  setDataOpen(false);
  for (const id of ['stop', 'audio', 'video', 'bitrate', 'keyframe']) $(id).disabled = true;
}

function setDataOpen(open) {
  $('data-state').textContent = open ? 'open' : 'closed';
  $('data-text').disabled = !open;
  $('data-send').disabled = !open;
}

function sendData(text) {
  if (!st.dc || st.dc.readyState !== 'open') return false;
  st.dc.send(text);
  return true;
}

// ---- controls -----------------------------------------------------------

function toggle(kind) {
  const on = !(kind === 'audio' ? st.audioOn : st.videoOn);
  request({ [kind]: on }).then(() => {
    if (kind === 'audio') st.audioOn = on; else st.videoOn = on;
    const b = $(kind);
    b.textContent = `${kind === 'audio' ? 'Audio' : 'Video'} echo: ${on ? 'on' : 'off'}`;
    b.className = on ? 'on' : 'off';
  }).catch((e) => log(`${kind} failed: ${e}`));
}

$('start').onclick = start;
$('stop').onclick = stop;
$('audio').onclick = () => toggle('audio');
$('video').onclick = () => toggle('video');
$('bitrate').onchange = (e) => request({ bitrate: Number(e.target.value) }).catch((err) => log('bitrate failed: ' + err));
$('substream').onchange = (e) => request({ substream: Number(e.target.value) }).catch((err) => log('substream failed: ' + err));
$('keyframe').onclick = () => request({ keyframe: true }).catch((e) => log('keyframe failed: ' + e));
$('listen').onchange = (e) => { $('remote').muted = !e.target.checked; };
$('data-send').onclick = () => {
  const text = $('data-text').value;
  if (sendData(text)) $('data-log').textContent += `sent: ${text}\n`;
};

// ---- statistics ---------------------------------------------------------

// collectStats reads getStats into one flat object.
async function collectStats() {
  const s = {
    videoFramesDecoded: 0, audioPacketsReceived: 0, audioBytesReceived: 0, videoBytesReceived: 0,
    bytesSent: 0, packetsLost: 0, remotePacketsLost: 0, rtt: null,
    frameWidth: 0, frameHeight: 0, videoCodec: '', answerAudioCodec: '', layersSent: 0,
    selectedLocal: '', selectedRemote: '', localAddresses: [], remoteAddresses: [],
  };
  if (!st.pc) return s;
  s.answerAudioCodec = firstCodec(st.pc.remoteDescription, 'audio');
  const report = await st.pc.getStats();
  let pairId = '';
  report.forEach((r) => {
    switch (r.type) {
      case 'inbound-rtp':
        if (r.kind === 'video') {
          s.videoFramesDecoded += r.framesDecoded || 0;
          s.videoBytesReceived += r.bytesReceived || 0;
          s.frameWidth = r.frameWidth || 0;
          s.frameHeight = r.frameHeight || 0;
          const c = r.codecId && report.get(r.codecId);
          if (c) s.videoCodec = c.mimeType;
        } else if (r.kind === 'audio') {
          s.audioPacketsReceived += r.packetsReceived || 0;
          s.audioSamples = (s.audioSamples || 0) + (r.totalSamplesReceived || 0);
          s.audioConcealed = (s.audioConcealed || 0) + (r.concealedSamples || 0);
          s.audioBytesReceived += r.bytesReceived || 0;
        }
        s.packetsLost += r.packetsLost || 0;
        break;
      case 'outbound-rtp':
        s.bytesSent += r.bytesSent || 0;
        if (r.kind === 'video' && r.bytesSent > 0) s.layersSent++;
        break;
      case 'remote-inbound-rtp': // the server's receiver reports on our streams
        s.remotePacketsLost += r.packetsLost || 0;
        break;
      case 'transport':
        if (r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
        break;
      case 'local-candidate':
        s.localAddresses.push(r.address || r.ip || '');
        break;
      case 'remote-candidate':
        s.remoteAddresses.push(r.address || r.ip || '');
        break;
    }
  });
  if (!pairId) { // older browsers: the nominated, working pair
    report.forEach((r) => {
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pairId = r.id;
    });
  }
  const pair = pairId && report.get(pairId);
  if (pair) {
    s.rtt = pair.currentRoundTripTime ?? null;
    const l = report.get(pair.localCandidateId);
    const r = report.get(pair.remoteCandidateId);
    if (l) s.selectedLocal = l.address || l.ip || '';
    if (r) s.selectedRemote = r.address || r.ip || '';
  }
  return s;
}

// firstCodec is the name of the first payload type of the m-line of this
// kind in a description: the one the answer prefers.
function firstCodec(desc, kind) {
  if (!desc) return '';
  const m = desc.sdp.split(/\r?\nm=/).find((x) => x.startsWith(kind + ' ') || x.startsWith('m=' + kind + ' '));
  if (!m) return '';
  const pt = m.split(/\r?\n/)[0].split(' ')[3];
  const line = m.split(/\r?\n/).find((l) => l.startsWith(`a=rtpmap:${pt} `));
  return line ? line.split(' ')[1].split('/')[0] : '';
}

async function showStats() {
  const s = await collectStats();
  const now = performance.now();
  const received = s.audioBytesReceived + s.videoBytesReceived;
  if (st.prev) {
    const secs = (now - st.prev.t) / 1000;
    $('s-out').textContent = kbps((s.bytesSent - st.prev.sent) * 8 / secs);
    $('s-in').textContent = kbps((received - st.prev.received) * 8 / secs);
  }
  st.prev = { t: now, sent: s.bytesSent, received };
  $('s-lost').textContent = `${s.packetsLost} / ${s.remotePacketsLost}`;
  $('s-rtt').textContent = s.rtt == null ? '–' : `${(s.rtt * 1000).toFixed(1)} ms`;
  $('s-frames').textContent = s.videoFramesDecoded;
  $('s-size').textContent = s.frameWidth ? `${s.frameWidth}×${s.frameHeight} ${s.videoCodec.replace('video/', '')}` : '–';
  $('s-audio').textContent = s.audioPacketsReceived;
  $('s-pair').textContent = s.selectedLocal ? `${s.selectedLocal} ⇄ ${s.selectedRemote}` : '–';
}

function kbps(bits) {
  return `${Math.max(0, Math.round(bits / 1000))} kbit/s`;
}

// ---- test hooks ---------------------------------------------------------

// ianuaStats is what the headless browser test polls.
window.ianuaStats = async () => {
  const s = await collectStats();
  s.connectionState = st.pc ? st.pc.connectionState : 'new';
  s.dataChannelState = st.dc ? st.dc.readyState : 'none';
  s.dataEchoes = st.dataEchoes;
  s.substream = st.substream;
  return s;
};

// ianuaRequest sends a message to the plugin, for requests the page has no
// control for ({"temporal": 0}).
window.ianuaRequest = (body) => request(body).then(() => true);

// ianuaSubstream asks the plugin for a simulcast layer, as the select does.
window.ianuaSubstream = (n) => { $('substream').value = String(n); $('substream').dispatchEvent(new Event('change')); };

// ianuaSendData sends text on the data channel; false if it is not open.
window.ianuaSendData = sendData;

if (query.get('autostart') === '1') start();
