// Package janusapi speaks the Janus API ("RESTful, WebSockets, RabbitMQ,
// MQTT, Nanomsg and UnixSockets API" of the Janus WebRTC Server) on top of
// an ianua MediaRouter, so that janus.js and the applications built on it
// work unchanged against ianua's plugins.
//
// A Server (New, with Params) gives three http.Handlers: WebSocket (the
// "janus-protocol" subprotocol), HTTP (the REST API under /janus, with
// long polls) and Admin (a subset of the Admin API under /admin). Each
// session belongs to one transport at a time: the WebSocket that created
// or claimed it, or the HTTP long-poll queue; its events go there. The
// answer to a request always comes before the events the request caused.
// Close ends every connection and long poll and destroys the sessions.
//
// # Conformance
//
// Janus core API (janus.c):
//
//	request     status
//	info        supported with differences: the "plugins" of server_info are those the
//	            server has a PluginAPI or an alias for; no version numbers or
//	            dependencies of Janus; GET /janus/info too
//	ping        supported (answer "pong"; GET /janus/ping too)
//	create      supported with differences: a client-chosen "id" is refused
//	            (error 490); ids are the router's
//	attach      supported ("plugin", "opaque_id"); "loop_index", "min_port",
//	            "max_port" ignored; plugin aliases (Params.Aliases)
//	detach      supported
//	destroy     supported
//	keepalive   supported
//	message     supported: "body", "jsep" (offer/answer, "trickle"); synchronous
//	            plugin replies as "success" with plugindata, asynchronous ones
//	            "ack" then "event"; plugin errors as PluginAPI says; "jsep"
//	            "e2ee" passed to the plugin (ianua.JSEP.E2EE) and back in
//	            its JSEP; "rid_order", "force_relay", "svc" ignored (rids
//	            are ordered by name, SVC is read from the packets)
//	trickle     supported ("candidate", "candidates", {"completed":true});
//	            with differences: a single candidate the ICE agent refuses is
//	            error 466 where Janus acknowledges it
//	hangup      supported
//	claim       supported, between any connections and transports
//	            (Params.ReclaimTimeout keeps a closed WebSocket's sessions)
//	apisecret   supported (Params.APISecret)
//	token       supported, stored tokens with plugin lists (Params.Tokens,
//	            and the Admin API's token requests); not yet: HMAC-signed
//	            tokens
//
// Events: event (plugindata, jsep, transaction), trickle, webrtcup, media
// ("type", "mid", "receiving"), slowlink ("mid", "media", "uplink",
// "lost", per stream and direction), hangup ("reason"),
// detached, timeout. Not yet: "ice-failed" (the core hangs up instead).
// The "opaque_id" in events (Janus opaqueid_in_api) is not sent.
//
// Transports: WebSocket and HTTP (long polls with "maxev", ~30 s hold,
// keepalive answer, CORS per Params.AllowedOrigins). Not yet: RabbitMQ,
// MQTT, Nanomsg, Unix sockets; the Admin API over WebSocket.
//
// Admin API: info, ping, get_status (token_auth, session_timeout,
// reclaim_session_timeout, no_media_timer, slowlink_threshold),
// accept_new_sessions (draining: "create" refused with 472),
// list_sessions, destroy_session, list_handles, handle_info (supported
// with differences: "info" is ianua's HandleInfo — ICE, DTLS and
// signaling states, selected pair, RTT, SRTP cipher, per-stream counters
// — plus "opaque_id" and "plugin_specific", not Janus's layout;
// "plugin_only" gives plugin_specific alone), hangup_webrtc,
// detach_handle, add_token / allow_token / disallow_token / list_tokens /
// remove_token (stored tokens, as Janus's token_auth), message_plugin (to
// plugins implementing ianua.AdminHandler: VideoRoom's room management,
// Streaming's mountpoints). Not yet: the set_* requests, pcap dumps,
// query_transport, query_eventhandler, custom_event, resolve_address,
// test_stun, loops_info.
//
// Event handlers: EventHandler (an ianua.Observer) POSTs the router's
// events to an HTTP backend in the format of Janus's event handlers, as
// janus.eventhandler.sampleevh does (grouping, basic authentication,
// retransmissions, a type mask): session (1), handle (2), jsep (8), webrtc
// (16: ICE state, local candidates, DTLS state, webrtcup/hangup), media
// (32: receiving, slow link) and plugin (64) events. Not yet: opaque_id,
// remote candidates, the selected pair, media statistics, transport and
// core events, compression, and the other handlers (WebSocket, RabbitMQ,
// MQTT, NATS, GELF).
//
// EchoTest (janus.plugin.echotest, package echotest):
//
//	request / field              status
//	audio, video, bitrate        supported
//	error codes 411–414, events  supported ({"echotest":"event","result":"ok"},
//	                             "done" on hangup; a message with no SDP that
//	                             asks for nothing gets 413, as in Janus)
//	audiocodec, videocodec,
//	videoprofile                 supported: with the client's offer they pick
//	                             the answer's codec (an m-line that does not
//	                             offer it gets no echo); with request "offer"
//	                             the codecs of the plugin's offer
//	substream, temporal          supported: a simulcast client gets one layer
//	                             back (the highest by default), with Janus's
//	                             {"substream":…,"temporal":…} events
//	spatial_layer,
//	temporal_layer               supported for VP9 and AV1 SVC, with Janus's
//	                             {"spatial_layer":…,"tot_spatial_layers":…}
//	                             events
//	fallback                     accepted; the engine falls back to a live
//	                             layer by itself
//	keyframe, request "offer"    ianua extras
//	record, filename             supported with differences: .ogg/.ivf/.h264
//	                             files (Opus, VP8/VP9/AV1, H.264), not .mjr
//	min_delay, max_delay         supported (playout-delay extension on the
//	                             echoed video, 10 ms units)
//	slow_link event              supported ("media", "current-bitrate" for
//	                             video; "mid" and "lost" added)
//	opusred                      supported (RED around Opus preferred in the
//	                             answer when offered; echoed as sent)
//	jsep "e2ee"                  supported (said back in the answer, shown
//	                             in query_session; a recording holds the
//	                             frames as they came, encrypted)
//
// VideoRoom (janus.plugin.videoroom, package sfu; multistream API):
//
//	request                      status
//	create, edit, destroy,
//	exists, list,
//	listparticipants, kick,
//	moderate                     supported (synchronous)
//	rtp_forward,
//	stop_rtp_forward,
//	listforwarders               supported (synchronous)
//	allowed                      not yet (no token lists in rooms)
//	enable_recording             not yet (no .mjr recordings)
//	add/update/remove_remote_publisher,
//	publish_remotely,
//	unpublish_remotely,
//	listremotes                  not yet (remote publishers)
//	join (publisher),
//	joinandconfigure, publish,
//	configure, unpublish, leave  supported (asynchronous)
//	join (subscriber, streams),
//	start, pause, subscribe,
//	unsubscribe, update,
//	configure, switch, leave     supported (asynchronous; configure takes a
//	                             "streams" array of changes by mid, or one
//	                             at the top level)
//	events                       supported: joined, publishers, unpublished,
//	                             leaving, kicked, destroyed, talking,
//	                             stopped-talking, attached, updated, started,
//	                             paused, switched, configured, left, the
//	                             subscriber's layer changes ("substream",
//	                             "temporal", "spatial_layer",
//	                             "temporal_layer", by mid), slow_link
//	                             (publisher: losses on the way in, with
//	                             "current-bitrate"; subscriber: on the way
//	                             out; "mid", "media", "lost" added);
//	                             extra "active-speaker"
//	configure "temporal"         supported for VP8 (temporal layers 0..N)
//	configure "spatial_layer",
//	"temporal_layer"             supported (VP9 and AV1 SVC: layers dropped,
//	                             marker rewritten; up at keyframes); the spatial
//	                             layer also chosen automatically from the
//	                             subscriber's bandwidth estimate, until
//	                             asked for by hand
//	configure "min_delay",
//	"max_delay"                  supported (playout-delay extension on the
//	                             stream's video, 10 ms units)
//	require_e2ee, jsep "e2ee"    supported: a publisher's "e2ee" is said
//	                             back and in its subscribers' offers; one
//	                             subscription cannot mix encrypted and
//	                             plain feeds (438); a require_e2ee room
//	                             refuses plain publishers (433)
//	string room ids,
//	dummy publishers,
//	permanent                    not yet
//
// Streaming (janus.plugin.streaming, package streaming):
//
//	request / field              status
//	list, info, create,
//	destroy                      supported (synchronous); "create" of type
//	                             "rtp" with "media" or the legacy audio/video/
//	                             data fields (codec as audiocodec/videocodec
//	                             or audiortpmap/videortpmap),
//	                             SRTP ingest (srtpsuite, srtpcrypto),
//	                             simulcast over three ports, data ports
//	                             (datatype, buffermsg), the kept keyframe
//	                             (videobufferkf, on by default); with
//	                             differences: list and info show the ports
//	                             without the secret, info has no pt, rtpmap,
//	                             fmtp, and age_ms is 0 or -1; "create" of
//	                             type "rtsp" (url, rtsp_user, rtsp_pwd,
//	                             rtsp_reconnect_delay, audio/video to pick;
//	                             extra rtsp_transport udp or tcp): RTP over
//	                             UDP, or interleaved over TCP when the
//	                             server refuses UDP, Basic or Digest auth,
//	                             the first audio and video stream of the
//	                             server's SDP, pulled again after a failure;
//	                             not yet: rtsp_iface, rtsp_quirk, file and
//	                             live types, edit, recording,
//	                             enable/disable
//	watch, start, pause, stop,
//	switch, configure            supported (asynchronous; configure: send,
//	                             substream, temporal), Janus's
//	                             "preparing"/"starting"/"started"/"pausing"/
//	                             "stopping"/"stopped" statuses; extra
//	                             "no-media"/"media"; the offer's mids are
//	                             the mountpoint's. With differences: a
//	                             second watch is refused (452; Janus
//	                             renegotiates, "restart" for an ICE
//	                             restart); stop when not watching says
//	                             "stopping" (Janus "idle"); the hangup may
//	                             reach the client before "stopping"
//
// janus.js drives Streaming in examples/janus-server's Streaming page,
// tested with ffmpeg feeding two mountpoints: list, watch, start, info,
// switch on the same PeerConnection, pause and start, stop, and watch
// again on the same handle.
//
// SIP (janus.plugin.sip, package sipgw): register (digest, refresh,
// guest, unregister), call, accept, decline, hangup, hold, unhold,
// dtmf_info, info, message (MESSAGE in and out of a dialog), update
// (renegotiation both ways: re-INVITE for the browser's offer,
// updatingcall with autoaccept_reinvites false; re-INVITE glare
// handled), transfer (REFER both ways, refer_id calls and declines
// reported in NOTIFYs), with Janus's events (early media as "progress")
// and error codes (440–455); SDES-SRTP; video (VP8, H.264, plain RTP
// or SDES-SRTP with a key of its own; keyframe requests relayed); SIP over UDP, TCP and TLS (the proxy's
// or the URI's transport, sips:, force_tcp, force_udp). An ianua
// extension: call with "room" (and pin, display) and no JSEP places the
// call into a VideoRoom room, the callee publishing its audio there and
// hearing the active speaker; join_room moves an established call there
// (the browser's PeerConnection released). Not yet: the progress request, subscribe,
// recording, helper sessions. The sipgw package
// documentation is the full table.
// Every request is asynchronous ("sip" error events). janus.js drives it
// in examples/janus-server's SIP page, tested against SIPp: digest
// registration and its refusal, calls both ways with audio, DTMF by INFO
// both ways, hangup, and the un-REGISTER at shutdown.
//
// # Errors
//
// Core errors carry Janus's codes (the Error constants, apierror.h),
// mapped from ianua's sentinel errors with errors.Is. A *ianua.PluginError
// returned by a plugin reaches the client the way the Janus plugin would
// deliver it (see PluginAPI): inside plugindata, in a "success" for a
// synchronous request, in an "event" after the "ack" for an asynchronous
// one.
package janusapi
