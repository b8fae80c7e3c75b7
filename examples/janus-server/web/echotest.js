// EchoTest with janus.js: attach to janus.plugin.echotest, offer camera,
// microphone and a data channel with {"audio":true,"video":true}, apply
// the answer from the plugin's event.
//
// As in Janus's own demo, query parameters shape the offer:
//   ?simulcast=1       the camera is sent as three simulcast encodings
//                      (janus.js's simulcast: true); the plugin echoes one
//                      of them, chosen with the substream buttons
//   ?acodec=pcmu       the audio codec the answer keeps (audiocodec)
//   ?vcodec=vp9        the video codec the answer keeps (videocodec)
//   ?vprofile=42e01f   a VP9 profile-id or H.264 profile-level-id
//                      (videoprofile)
//   ?e2ee=1            the media is end-to-end encrypted with insertable
//                      streams (janus.js's track "transforms"; janus.js
//                      then says "e2ee" in the offer's JSEP). The cipher is
//                      a toy XOR, for the test: the server must forward
//                      frames it cannot read.
'use strict';

let echo = null;           // the janus.js plugin handle
let state = 'idle';        // idle, connecting, up, stopped
const local = new MediaStream();
const remote = new MediaStream();
const settings = { audio: true, video: true };

const truthy = (v) => v === '1' || v === 'true' || v === 'yes';
const doSimulcast = truthy(params.get('simulcast'));
const acodec = params.get('acodec');
const vcodec = params.get('vcodec');
const vprofile = params.get('vprofile');
const doE2EE = truthy(params.get('e2ee'));

// What the insertable-stream transforms did, and whether the plugin's
// answer said e2ee.
const e2ee = { encrypted: 0, decrypted: 0, answer: null };

// xorTransform encrypts or decrypts (the same XOR both ways) every frame,
// leaving the codec's first bytes clear as Janus's e2etest demo does (the
// VP8 payload header: 10 bytes of a key frame, 3 of a delta frame; Opus's
// TOC byte), so that a server can still find key frames.
function xorTransform(counter) {
  return new TransformStream({
    transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      const clear = frame.type === 'key' ? 10 : frame.type === 'delta' ? 3 : 1;
      for (let i = clear; i < data.length; i++) data[i] ^= 0xA5 ^ (i & 0xFF);
      frame.data = data.buffer;
      e2ee[counter]++;
      controller.enqueue(frame);
    },
  });
}

// transforms returns a track's janus.js transforms when ?e2ee is on.
const transforms = () => doE2EE ? { sender: xorTransform('encrypted'), receiver: xorTransform('decrypted') } : undefined;

// What the plugin's layer events said last: {"echotest":"event",
// "videocodec":…, "substream":…, "temporal":…} for simulcast,
// "spatial_layer"/"temporal_layer"/"tot_spatial_layers" for SVC.
const layers = {
  videocodec: null, substream: null, temporal: null,
  spatialLayer: null, temporalLayer: null, totSpatialLayers: null,
  events: 0,
};
let lastError = null;      // the last plugin error, {code, reason}

document.getElementById('local').srcObject = local;
document.getElementById('remote').srcObject = remote;

async function start() {
  document.getElementById('start').disabled = true;
  state = 'connecting';
  let janus;
  try {
    janus = await startJanus();
  } catch (err) {
    state = 'failed';
    return;
  }
  janus.attach({
    plugin: 'janus.plugin.echotest',
    opaqueId: 'echotest-' + Janus.randomString(8),
    success: (handle) => {
      echo = handle;
      log(`attached to ${handle.getPlugin()}, handle ${handle.getId()}`);
      // Janus's demo sends the codec choices with the offer.
      const body = { audio: true, video: true };
      if (acodec) body.audiocodec = acodec;
      if (vcodec) body.videocodec = vcodec;
      if (vprofile) body.videoprofile = vprofile;
      handle.createOffer({
        tracks: [
          { type: 'audio', capture: true, recv: true, transforms: transforms() },
          { type: 'video', capture: true, recv: true, simulcast: doSimulcast, transforms: transforms() },
          { type: 'data' },
        ],
        success: (jsep) => {
          log(`offer made${doSimulcast ? ' (simulcast)' : ''}${jsep.e2ee ? ' (e2ee)' : ''}; sending it with ${JSON.stringify(body)}`);
          handle.send({ message: body, jsep });
        },
        error: (err) => log(`offer failed: ${err}`),
      });
    },
    error: (err) => log(`attach failed: ${err}`),
    onmessage: (msg, jsep) => {
      if (msg.error) {
        lastError = { code: msg.error_code, reason: msg.error };
        log(`plugin error ${msg.error_code}: ${msg.error}`);
      } else {
        log(`event: ${JSON.stringify(msg)}`);
      }
      layerEvent(msg);
      if (jsep && jsep.type === 'answer') e2ee.answer = !!jsep.e2ee;
      if (jsep) echo.handleRemoteJsep({ jsep });
    },
    webrtcState: (on, reason) => {
      log(`PeerConnection ${on ? 'up' : 'down'}${reason ? ' (' + reason + ')' : ''}`);
      state = on ? 'up' : 'stopped';
      for (const id of ['audio', 'video', 'stop']) document.getElementById(id).disabled = !on;
    },
    mediaState: (kind, on, mid) => log(`server ${on ? 'receives' : 'no longer receives'} ${kind} (mid ${mid})`),
    onlocaltrack: (track, on) => { if (on) local.addTrack(track); else local.removeTrack(track); },
    onremotetrack: (track, mid, on) => {
      if (on) remote.addTrack(track);
      else remote.removeTrack(track);
    },
    ondataopen: () => { log('data channel open'); echo.data({ text: 'hello through the echo' }); },
    ondata: (data) => log(`data echoed: ${data}`),
    oncleanup: () => log('cleaned up'),
  });
}

// layerEvent records the plugin's layer events and shows the layer
// buttons, as Janus's demo does.
function layerEvent(msg) {
  const has = (k) => msg[k] !== undefined && msg[k] !== null;
  if (!has('substream') && !has('temporal') && !has('spatial_layer') && !has('temporal_layer')) return;
  layers.events++;
  if (has('videocodec')) layers.videocodec = msg.videocodec;
  if (has('substream')) layers.substream = msg.substream;
  if (has('temporal')) layers.temporal = msg.temporal;
  if (has('spatial_layer')) layers.spatialLayer = msg.spatial_layer;
  if (has('temporal_layer')) layers.temporalLayer = msg.temporal_layer;
  if (has('tot_spatial_layers')) layers.totSpatialLayers = msg.tot_spatial_layers;
  if (has('substream') || has('temporal')) {
    showButtons('simulcast', 'substream', layers.substream, 'temporal', layers.temporal);
  }
  if (has('spatial_layer') || has('temporal_layer')) {
    showButtons('svc', 'spatial_layer', layers.spatialLayer, 'temporal_layer', layers.temporalLayer);
  }
}

// showButtons shows the layer buttons of a group and marks the current
// ones.
function showButtons(group, spatialKey, spatial, temporalKey, temporal) {
  const el = document.getElementById(group);
  el.hidden = false;
  el.querySelectorAll('button').forEach((b) => {
    const cur = b.dataset.key === spatialKey ? spatial : temporal;
    b.classList.toggle('current', Number(b.dataset.value) === cur);
  });
}

for (const b of document.querySelectorAll('#simulcast button, #svc button')) {
  b.onclick = () => {
    if (!echo) return;
    echo.send({ message: { [b.dataset.key]: Number(b.dataset.value) } });
  };
}

function toggle(kind) {
  settings[kind] = !settings[kind];
  echo.send({ message: { [kind]: settings[kind] } });
  document.getElementById(kind).textContent = `${kind[0].toUpperCase() + kind.slice(1)}: ${settings[kind] ? 'on' : 'off'}`;
}

document.getElementById('start').onclick = start;
document.getElementById('audio').onclick = () => toggle('audio');
document.getElementById('video').onclick = () => toggle('video');
document.getElementById('stop').onclick = () => { echo.hangup(true); };

// ianuaSend sends {message: obj} on the handle; it resolves once the
// server took the message (the plugin's answer comes as an event).
window.ianuaSend = (obj) => new Promise((resolve, reject) => {
  if (!echo) { reject(new Error('not attached')); return; }
  log(`sending ${JSON.stringify(obj)}`);
  echo.send({ message: obj, success: () => resolve(true), error: (err) => reject(new Error(String(err))) });
});

// echoStats reads what the test and the page show: the echoed video and
// audio coming in, and the video encodings going out.
async function echoStats(pc) {
  const out = {
    framesDecoded: 0, packetsReceived: 0, frameWidth: 0, frameHeight: 0, framesPerSecond: 0,
    videoCodec: '', audioCodec: '', audioPackets: 0,
    encodingsSending: 0, encodings: [],
  };
  if (!pc) return out;
  const report = await pc.getStats();
  const mime = (s) => (s.codecId && report.get(s.codecId) ? report.get(s.codecId).mimeType : '');
  report.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.framesDecoded += s.framesDecoded || 0;
      out.packetsReceived += s.packetsReceived || 0;
      out.frameWidth = s.frameWidth || out.frameWidth;
      out.frameHeight = s.frameHeight || out.frameHeight;
      out.framesPerSecond = s.framesPerSecond || out.framesPerSecond;
      out.videoCodec = mime(s) || out.videoCodec;
    } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out.audioPackets += s.packetsReceived || 0;
      out.audioCodec = mime(s) || out.audioCodec;
    } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
      if (s.bytesSent > 0) out.encodingsSending++;
      out.encodings.push({
        rid: s.rid || '', bytesSent: s.bytesSent || 0, frameWidth: s.frameWidth || 0,
        frameHeight: s.frameHeight || 0, codec: mime(s), active: s.active,
        qualityLimitationReason: s.qualityLimitationReason || '',
        scalabilityMode: s.scalabilityMode || '', framesPerSecond: s.framesPerSecond || 0,
      });
    }
  });
  out.encodings.sort((a, b) => a.rid.localeCompare(b.rid));
  return out;
}

// ianuaStats is what the browser test reads.
window.ianuaStats = async () => {
  const pc = echo && echo.webrtcStuff && echo.webrtcStuff.pc;
  const s = await echoStats(pc);
  const layerText = layers.events === 0 ? '' :
    `, layer events ${layers.events} (${layers.videocodec}: substream ${layers.substream}, temporal ${layers.temporal}` +
    `, spatial ${layers.spatialLayer}, temporal_layer ${layers.temporalLayer})`;
  document.getElementById('stats').textContent =
    `state ${state}, echoed frames decoded: ${s.framesDecoded} (${s.frameWidth}x${s.frameHeight} ${s.videoCodec}), ` +
    `audio ${s.audioCodec}, encodings sending: ${s.encodingsSending}${layerText}`;
  return {
    state, ...s,
    layerEvents: layers.events,
    eventVideoCodec: layers.videocodec,
    substream: layers.substream,
    temporal: layers.temporal,
    spatialLayer: layers.spatialLayer,
    temporalLayer: layers.temporalLayer,
    totSpatialLayers: layers.totSpatialLayers,
    e2eeEncrypted: e2ee.encrypted,
    e2eeDecrypted: e2ee.decrypted,
    e2eeAnswer: e2ee.answer,
    error: lastError,
  };
};
setInterval(window.ianuaStats, 1000);

if (params.get('autostart')) start();
