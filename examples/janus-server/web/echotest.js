// EchoTest with janus.js: attach to janus.plugin.echotest, offer camera,
// microphone and a data channel with {"audio":true,"video":true}, apply
// the answer from the plugin's event.
'use strict';

let echo = null;           // the janus.js plugin handle
let state = 'idle';        // idle, connecting, up, stopped
const local = new MediaStream();
const remote = new MediaStream();
const settings = { audio: true, video: true };

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
      handle.createOffer({
        tracks: [
          { type: 'audio', capture: true, recv: true },
          { type: 'video', capture: true, recv: true },
          { type: 'data' },
        ],
        success: (jsep) => {
          log('offer made; sending it');
          handle.send({ message: { audio: true, video: true }, jsep });
        },
        error: (err) => log(`offer failed: ${err}`),
      });
    },
    error: (err) => log(`attach failed: ${err}`),
    onmessage: (msg, jsep) => {
      if (msg.error) log(`plugin error ${msg.error_code}: ${msg.error}`);
      else log(`event: ${JSON.stringify(msg)}`);
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

function toggle(kind) {
  settings[kind] = !settings[kind];
  echo.send({ message: { [kind]: settings[kind] } });
  document.getElementById(kind).textContent = `${kind[0].toUpperCase() + kind.slice(1)}: ${settings[kind] ? 'on' : 'off'}`;
}

document.getElementById('start').onclick = start;
document.getElementById('audio').onclick = () => toggle('audio');
document.getElementById('video').onclick = () => toggle('video');
document.getElementById('stop').onclick = () => { echo.hangup(true); };

// ianuaStats is what the browser test reads.
window.ianuaStats = async () => {
  const pc = echo && echo.webrtcStuff && echo.webrtcStuff.pc;
  const v = await inboundVideo(pc);
  document.getElementById('stats').textContent = `state ${state}, echoed frames decoded: ${v.framesDecoded}`;
  return { state, framesDecoded: v.framesDecoded, packetsReceived: v.packetsReceived };
};
setInterval(window.ianuaStats, 1000);

if (params.get('autostart')) start();
