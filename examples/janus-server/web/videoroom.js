// VideoRoom with janus.js, multistream: one handle publishes (join as
// publisher, then configure with an offer); one handle subscribes to every
// other publisher (join as subscriber with the feeds, then subscribe for
// newcomers) and answers each offer of the plugin with "start".
'use strict';

const room = Number(params.get('room') || 1234);
document.getElementById('room').textContent = room;
document.getElementById('display').value = params.get('display') || '';

let janus = null;
let pub = null;          // publisher handle
let sub = null;          // subscriber handle, once attached
let subAttaching = false;
let subJoined = false;   // the subscriber's join was sent
let myId = null;
let state = 'idle';
const feeds = new Map(); // publisher id -> display, for those we subscribed to
let pendingFeeds = [];   // feeds to subscribe to once the subscriber can
const local = new MediaStream();
const remotes = new Map(); // mid -> {el, stream}
document.getElementById('local').srcObject = local;

async function join() {
  document.getElementById('join').disabled = true;
  const display = document.getElementById('display').value || 'guest-' + Janus.randomString(4);
  state = 'connecting';
  try {
    janus = await startJanus();
  } catch (err) {
    state = 'failed';
    return;
  }
  janus.attach({
    plugin: 'janus.plugin.videoroom',
    opaqueId: 'videoroom-' + Janus.randomString(8),
    success: (handle) => {
      pub = handle;
      log(`publisher handle ${handle.getId()}`);
      pub.send({ message: { request: 'join', room, ptype: 'publisher', display } });
    },
    error: (err) => log(`attach failed: ${err}`),
    onmessage: onPublisherMessage,
    webrtcState: (on) => { log(`publisher PeerConnection ${on ? 'up' : 'down'}`); if (on) state = 'publishing'; },
    onlocaltrack: (track, on) => { if (on) local.addTrack(track); else local.removeTrack(track); },
    oncleanup: () => log('publisher cleaned up'),
  });
  document.getElementById('leave').disabled = false;
}

function onPublisherMessage(msg, jsep) {
  if (msg.error) { log(`publisher error ${msg.error_code}: ${msg.error}`); return; }
  switch (msg.videoroom) {
    case 'joined':
      myId = msg.id;
      log(`joined room ${msg.room} as ${myId}`);
      publish();
      addFeeds(msg.publishers || []);
      break;
    case 'event':
      if (msg.publishers) addFeeds(msg.publishers);
      if (msg.leaving || msg.unpublished) {
        const gone = msg.leaving || msg.unpublished;
        if (gone !== 'ok' && feeds.delete(gone)) log(`feed ${gone} left`);
      }
      if (msg.configured) log('published');
      break;
  }
  if (jsep) pub.handleRemoteJsep({ jsep });
}

function publish() {
  log('capturing camera and microphone');
  pub.createOffer({
    tracks: [
      { type: 'audio', capture: true, recv: false },
      { type: 'video', capture: true, recv: false },
    ],
    success: (jsep) => {
      log('offer made; publishing');
      pub.send({ message: { request: 'configure', audio: true, video: true }, jsep });
    },
    error: (err) => log(`publisher offer failed: ${err}`),
  });
}

// addFeeds subscribes to publishers we do not have yet.
function addFeeds(list) {
  for (const p of list) {
    if (p.id === myId || feeds.has(p.id) || pendingFeeds.includes(p.id)) continue;
    log(`new feed ${p.id} (${p.display || ''})`);
    pendingFeeds.push(p.id);
  }
  flushFeeds();
}

// flushFeeds sends the pending feeds: a subscriber join the first time, a
// subscribe request after, never two requests at once.
function flushFeeds() {
  if (pendingFeeds.length === 0) return;
  if (!sub) {
    if (!subAttaching) {
      subAttaching = true;
      attachSubscriber();
    }
    return;
  }
  const streams = pendingFeeds.map((feed) => ({ feed }));
  for (const f of pendingFeeds) feeds.set(f, true);
  pendingFeeds = [];
  if (!subJoined) {
    subJoined = true;
    sub.send({ message: { request: 'join', room, ptype: 'subscriber', streams } });
  } else {
    sub.send({ message: { request: 'subscribe', streams } });
  }
}

function attachSubscriber() {
  janus.attach({
    plugin: 'janus.plugin.videoroom',
    opaqueId: 'videoroom-sub-' + Janus.randomString(8),
    success: (handle) => { sub = handle; log(`subscriber handle ${handle.getId()}`); flushFeeds(); },
    error: (err) => log(`subscriber attach failed: ${err}`),
    onmessage: (msg, jsep) => {
      if (msg.error) log(`subscriber error ${msg.error_code}: ${msg.error}`);
      else if (msg.videoroom !== 'event' || !msg.started) log(`subscriber: ${msg.videoroom} ${msg.streams ? JSON.stringify(msg.streams.map((s) => s.feed_id + '/' + s.type)) : ''}`);
      if (jsep && jsep.type === 'offer') {
        // Every offer of the plugin (attached, updated) is answered the
        // same way: receive only, then "start".
        sub.createAnswer({
          jsep,
          tracks: [{ type: 'data' }],
          success: (answer) => sub.send({ message: { request: 'start', room }, jsep: answer }),
          error: (err) => log(`subscriber answer failed: ${err}`),
        });
      }
    },
    webrtcState: (on) => { log(`subscriber PeerConnection ${on ? 'up' : 'down'}`); if (on) state = 'subscribed'; },
    onremotetrack: (track, mid, on, meta) => {
      const reason = meta && meta.reason;
      let r = remotes.get(mid);
      if (on) {
        if (!r) {
          const fig = document.createElement('figure');
          const el = document.createElement(track.kind === 'video' ? 'video' : 'audio');
          el.autoplay = true;
          el.playsInline = true;
          fig.appendChild(el);
          const cap = document.createElement('figcaption');
          cap.textContent = `${track.kind} mid ${mid}`;
          fig.appendChild(cap);
          if (track.kind === 'video') document.getElementById('remotes').appendChild(fig);
          r = { fig, el, stream: new MediaStream() };
          el.srcObject = r.stream;
          remotes.set(mid, r);
        }
        if (!r.stream.getTracks().includes(track)) r.stream.addTrack(track);
      } else if (r && reason === 'ended') {
        r.fig.remove();
        remotes.delete(mid);
      }
    },
    oncleanup: () => log('subscriber cleaned up'),
  });
}

function leave() {
  document.getElementById('leave').disabled = true;
  if (janus) janus.destroy({ success: () => log('left') });
  state = 'left';
}

document.getElementById('join').onclick = join;
document.getElementById('leave').onclick = leave;

// ianuaStats is what the browser test reads.
window.ianuaStats = async () => {
  const pc = sub && sub.webrtcStuff && sub.webrtcStuff.pc;
  const v = await inboundVideo(pc);
  const s = { state, myId, feeds: [...feeds.keys()], remoteVideos: [...remotes.values()].filter((r) => r.el.tagName === 'VIDEO').length,
    framesDecoded: v.framesDecoded, videoStreams: v.streams };
  document.getElementById('stats').textContent = `state ${s.state}, feeds ${s.feeds.join(', ') || 'none'}, remote frames decoded: ${s.framesDecoded}`;
  return s;
};
setInterval(window.ianuaStats, 1000);

if (params.get('autojoin')) join();
