// Package sipgw is the SIP gateway plugin ("janus.plugin.sip"): each handle
// is a SIP user agent that registers, calls and is called, and bridges its
// calls to the handle's PeerConnection without transcoding. Its message
// language is the Janus SIP plugin's (requests, events and error codes of
// janus_sip.c), so that existing Janus SIP clients work unchanged. The SIP
// stack is github.com/emiago/sipgo.
//
// # Setup
//
// New(Params) opens one UDP socket for SIP (default 127.0.0.1:5060) that
// every handle shares, and with Params.TCP a TCP listener on the same
// address and port, with Params.TLSConfig a TLS one (TLSListenAddr,
// default port 5061); requests inside a dialog are routed by Call-ID and
// our tag, new INVITEs to the handle registered for the Request-URI's user
// (so handles of one gateway may call each other). Each call takes an
// RTP and an RTCP port on Params.LocalIP (ephemeral, or from
// RTPPortMin..RTPPortMax). MESSAGEs outside a dialog are routed like new
// INVITEs, those inside one (MESSAGE, INFO, REFER, NOTIFY) like the
// call's other requests. Close the plugin after the router (the router
// does it itself when the core has ianua.Closer); Close sends what it can
// (BYE, CANCEL, un-REGISTER) and waits for every goroutine of the plugin.
//
// # Transports
//
// A request goes out over the transport its next hop asks for, as Janus
// (sofia-sip) does: a URI's ";transport=udp|tcp|tls" parameter, TLS for
// a sips: URI (RFC 3261 section 19.1). An account's requests (REGISTER,
// and calls and MESSAGEs to URIs that name no transport) use the
// outbound_proxy's, else the proxy's (the registrar's, a sips: username
// makes a sips: registrar), else TCP with force_tcp, else UDP;
// force_udp or force_tcp with a proxy that asks for the other, or both,
// is refused (444). With an outbound_proxy, every request of the
// account goes to it over its transport. Via names our listener of that
// transport, Contact carries ";transport=tcp" or ";transport=tls"
// (sips: when the request went to a sips: URI, RFC 3261 section
// 26.2.2). An incoming INVITE's dialog keeps the transport it came over;
// our requests in it (BYE, re-INVITE, INFO, MESSAGE, REFER, NOTIFY) go
// over the connection it came on while that is open, else by the
// peer's Contact. Connections stay open once their transaction ends
// (sipgo's idle reuse): a registration's refreshes and un-REGISTER go
// over the connection of its first REGISTER, and the registrar may send
// calls over it. A transport the plugin does not listen on, or does not
// know (ws, sctp), is refused at once with ErrTransportUnavailable (446
// for a URI, 444 for force_tcp). A TCP peer that sends what does not
// parse is disconnected; one that closes the connection before
// answering fails the transaction after its timer (408), one that
// refuses it at once (503). Outgoing TLS verifies the peer with
// Params.TLSConfig (its RootCAs, the URI's host as server name); the
// listener asks no client certificate unless the config does.
//
// sipgo's timers (T1, T2, T4) are process-wide variables of package
// github.com/emiago/sipgo/sip; a host that wants other than RFC 3261's
// defaults sets them with sip.SetTimers before New.
//
// # Media
//
// The SIP side is RTP/AVP audio (RFC 3551), with video when both sides
// have it (below), SRTP on request. Outgoing calls offer the
// codecs of the browser's offer that both legs can carry (Opus, G.722,
// PCMU, PCMA) with the browser's payload types, plus telephone-event (RFC
// 4733); the browser is answered once the SIP peer has chosen, with that
// codec only (SetCodecPreferences), so packets cross untouched but for the
// payload type, the SSRC on the WebRTC side and header extensions.
// Incoming calls are offered to the browser with the caller's codecs we
// can carry; the codec the browser picks is the one answered to the caller.
// RTCP from the SIP peer is read (on its a=rtcp port, port+1, or the RTP
// port with rtcp-mux; SRTCP with SRTP) and dropped but for video
// feedback; no reports are sent to it. The SIP peer's
// telephone-event packets are relayed to the browser when it negotiated
// telephone-event, and reported as "dtmf" events.
//
// Video (VP8, RFC 7741; H.264, RFC 6184), untranscoded as audio, on an
// RTP/RTCP port pair of its own. When the browser's offer has a video
// m-line, the INVITE has an m=video with the browser's VP8 and, of its
// H.264, the first two profiles with packetization-mode 1 (a request
// over UDP must stay under 1300 bytes, RFC 3261 section 18.1.1), with the
// browser's payload types and fmtp (profile-level-id, packetization-mode)
// and the rtcp-fb the gateway relays (nack, nack pli, ccm fir). The
// browser's answer gets the format the peer chose; when the peer refuses
// video (port 0) or takes none of them, the browser's video m-line is
// answered inactive and the call goes on with audio. An incoming INVITE
// with video is offered to the browser with a video m-line of the
// caller's formats we carry; the format the browser takes is answered,
// and the m=video gets port 0 when it takes none. Keyframes: a PLI or FIR
// of the browser goes to the SIP peer as a PLI (RFC 4585 section 6.3.1,
// behind an empty receiver report) on its RTCP address; the peer's PLI or
// FIR, and the start (or resumption) of the browser's video towards it,
// make a PLI to the browser. The peer's generic NACKs go to the browser
// unchanged (its packets keep their numbering); the browser's are
// answered by the router's NACK responder. Hold, unhold, update and the
// peer's re-INVITEs carry the direction on both m-lines; a video stream
// the peer ends (port 0) stays off for the rest of the call (RFC 3264
// section 8.2), and one a re-INVITE adds is refused (port 0). Status
// counts video packets apart.
//
// SDES-SRTP (RFC 4568, AES_CM_128_HMAC_SHA1_80 and _32): "srtp":
// "sdes_optional" offers a key on RTP/AVP and falls back to plain RTP if
// the answer has none; "sdes_mandatory" offers RTP/SAVP and ends the call
// (488) without a key in the answer. An incoming offer with a key is
// answered with ours (incomingcall says "srtp"), and accept with
// "sdes_mandatory" of an offer without one is refused with 452, as in
// Janus. Keys without MKI, lifetime ignored; re-INVITEs may rekey.
// Video has keys of its own (a=crypto is a media-level attribute, RFC
// 4568 section 4): an INVITE with srtp gives its m=video a key other than
// the audio's, on the same profile, and the answer's video key is used
// for that stream alone; its RTCP (keyframe requests both ways, the
// peer's NACKs) is SRTCP (RFC 3711 section 3.4). As in Janus, which
// checks every stream it uses: with sdes_mandatory, a peer that takes
// video without a usable key fails the whole call (BYE, hangup 488),
// while one that refuses video (port 0) needs none; with sdes_optional
// each stream falls back to plain RTP on its own. An incoming m=video
// on RTP/SAVP, or with a key, is offered to the browser and answered
// with our own key (RTP/SAVP without a usable key gets port 0), and
// accept with "sdes_mandatory" is refused (452) when the caller's
// video, which we could carry, has no key. Hold, unhold, update and
// the peer's re-INVITEs keep each stream's key (the peer may rekey
// either).
//
// # Supported requests
//
//   - register: username (events report its user part, as Janus does),
//     secret, authuser, display_name, user_agent,
//     proxy (the registrar), outbound_proxy (every request goes there
//     first), force_tcp, force_udp (see Transports), headers, register_ttl, refresh, type "guest" and
//     send_register false (no REGISTER; a guest is still called, and
//     messaged, at the gateway's address by its user part, unless a
//     handle that registered that user holds it). Digest authentication (RFC 3261
//     section 22) on 401 and 407; the registration is refreshed at three
//     quarters of the granted lifetime and withdrawn on unregister or
//     detach. Events: registering, registered, registration_failed {code,
//     reason}, unregistering, unregistered.
//   - call: uri, headers, call_id, srtp, srtp_profile,
//     autoaccept_reinvites, refer_id, with the browser's
//     JSEP offer (with room instead, see Rooms below). Events: calling {call_id}, proceeding {code}, ringing,
//     progress (183 with SDP: early media, JSEP answer), accepted (JSEP
//     answer unless progress had it), hangup {code, reason}. The account's
//     secret answers a challenge of the INVITE too.
//   - accept (JSEP answer to the incomingcall offer; headers, srtp,
//     autoaccept_reinvites) and decline (code, default 486; headers) of
//     an incomingcall {username, displayname, callee, call_id, srtp,
//     referred_by, replaces} event with a JSEP offer. "accepted" comes
//     once the call is established. A call that arrives during another
//     gets 486 and a missed_call event.
//   - hangup (CANCEL while calling, BYE in a call; headers), hold
//     (direction sendonly, the default, recvonly or inactive) and unhold
//     (re-INVITE, one at a time, the last wish winning; events holding and
//     resuming), dtmf_info (digit, duration;
//     INFO application/dtmf-relay; event dtmfsent), info (type, content;
//     event infosent).
//   - message (RFC 3428): content, content_type (default text/plain),
//     headers; with uri (and optionally call_id) a MESSAGE outside any
//     dialog, for registered and guest accounts, the account's secret
//     answering a challenge; without, one in the current call's dialog.
//     Events: messagesent {call_id} at once, then messagedelivery {code,
//     reason} with the final response. Content is bounded to 1300 bytes
//     (RFC 3428 section 7, UDP).
//   - update: with a JSEP offer in a call (an ICE restart, a direction
//     change), a re-INVITE with our SDP for it: same RTP ports, the
//     call's codec (the offer must still have it), the browser's
//     direction combined with the hold one. Events: updating at once,
//     then accepted with the JSEP answer, as Janus reports the answer to
//     a re-INVITE. When the peer refuses, the SIP side stays as it was
//     (RFC 3261 section 14.1) and the browser still gets its answer, with
//     an error event (449); 481 and 408 end the call (section 12.2.1.2).
//     With a JSEP answer, update answers an updatingcall (event updated).
//     The relay keeps its track, so SSRC, sequence numbers and timestamps
//     go on across the renegotiation.
//   - transfer (RFC 3515): uri, replace, headers, in a call: a REFER with
//     Refer-To and Referred-By; replace, the Call-ID of another call of
//     the same account (another handle registered with the same
//     identity), makes it an attended transfer, with a Replaces (RFC
//     3891) in the Refer-To (454 when there is no such call). Events:
//     transferring at once, referred {code, reason} with the REFER's
//     answer (not in Janus), and notify {notify, substate, content-type,
//     content} for the peer's NOTIFYs, as in Janus. The plugin hangs up
//     nothing by itself.
//   - From the SIP side: BYE ("hangup" 200 BYE), CANCEL ("hangup" 487),
//     re-INVITE, INFO ("info" event; with application/dtmf-relay also a
//     "dtmf" event {signal, duration}), MESSAGE (200, then a "message"
//     event {sender, displayname, content_type, content} with the
//     MESSAGE's Call-ID), REFER, NOTIFY (200, "notify" event), RFC 4733
//     key presses ("dtmf"), OPTIONS (200).
//   - re-INVITEs from the peer are answered by the plugin (Janus's
//     autoaccept_reinvites, the default): the call's codec (an offer
//     without it gets 488: packets cross untranscoded), the peer's new
//     address and key, and the direction that mirrors the offer's (a
//     sendonly offer, hold, gets recvonly). With autoaccept_reinvites
//     false the browser is asked first: an updatingcall event {username,
//     displayname, callee, call_id} with a plugin offer, answered with
//     update and a JSEP answer; the peer gets our 200 then (500 after 30
//     s without one). That offer keeps the WebRTC leg's codec and
//     directions (pion cannot set a transceiver's direction): a hold of
//     the peer shows in the media that stops, not in the SDP.
//   - Glare (RFC 3261 section 14): one INVITE transaction at a time in a
//     dialog. A re-INVITE of the peer that crosses ours gets 491, one
//     that arrives before our final answer to its previous one 500 with
//     Retry-After; ours wait for the peer's to finish, and one refused
//     with 491 is sent again after a random 2.1-4 s when we made the call
//     (own the Call-ID), 0-2 s otherwise (section 14.1), five times at
//     most.
//   - An incoming REFER in a call gets 202, a first NOTIFY "SIP/2.0 100
//     Trying" (message/sipfrag, RFC 3420) and a transfer event {refer_id,
//     refer_to, referred_by, replaces} for the client to act on, as in
//     Janus: call with that refer_id from a handle of the same account
//     (the one in the call cannot make a second call) and the transferor
//     hears the call's provisional answers and its final one in NOTIFYs
//     in the REFER's dialog, the last "terminated"; decline with refer_id
//     (code, 603 unless a failure code is given; event declining
//     {refer_id, code}) sends that code instead. The INVITE of the
//     transfer carries the Referred-By and the Replaces of the REFER. A
//     REFER outside a dialog gets 403; one without exactly one Refer-To
//     400.
//
// When the SIP call ends the plugin closes the handle's PeerConnection, as
// Janus does; when the PeerConnection goes away the call ends (BYE, or 480
// while an incoming call rings).
//
// Bad input is refused at once with a *ianua.PluginError carrying the Janus
// SIP code (440-455). User-supplied URIs, header names and values, display
// names and Call-IDs with CR, LF or NUL are refused (444 for headers, 446
// for URIs): they would let a client write SIP headers of its own
// (Janus skips such headers silently). Headers the stack owns (Via, From,
// To, Call-ID, CSeq, Contact, Content-*, Route, Max-Forwards, Expires)
// cannot be set.
//
// # Rooms: SIP dial-in
//
// SetDialIn lets SIP callers into the rooms of the router's video-room
// plugin (package sfu) as audio participants, with no browser and no
// handle: a conference bridge's dial-in number (LiveKit's SIP ingress
// with its dispatch rules). DialIn.Users maps Request-URI users to rooms
// ("conf" → 1234: sip:conf@gateway joins room 1234, PIN or not);
// DialIn.Prefix opens every room without a PIN by number ("room-":
// sip:room-1234@gateway). Dial-in users are looked at before the users
// handles registered. Anyone who reaches the SIP socket can dial in:
// protect it as any conference number (network rules, a proxy in front).
//
// The caller joins as a remote publisher (sfu.Room.AddRemotePublisher):
// every participant gets "publishers" with its id, the From's display
// name (its user part without one) and one audio stream, and subscribes
// to it as to any publisher; its source is fed straight from the call's
// RTP socket, the call's codec only (telephone-event and comfort noise
// stay out). Nothing is mixed or transcoded, so the caller hears one
// publisher at a time: the room's active speaker (sfu.Room.ActiveSpeaker,
// from the publishers' RFC 6464 audio levels), else the one it hears
// already, else the first other publisher of its codec; one
// Source.SubscribeWriter subscription is switched between them
// (seamless numbering), at most every DialIn.SwitchInterval (1 s; the
// room holds its speaker 2 s anyway), at once when the one heard stops.
// It is sent from the call's RTP port (symmetric RTP, RFC 4961), with
// SDES-SRTP when the caller offered a key.
//
// The call's codec is the first of the room's audio codecs (its
// audiocodec list, in order) that the caller offers: an Opus room takes
// Opus callers, a room with audiocodec "pcmu" (or "pcma", "g722") takes
// phones that offer only G.711. The INVITE is refused with 404 for a
// room that does not exist, 403 for a PIN room reached by Prefix, 488
// when the caller offers none of the room's codecs (or RTP/SAVP without
// a usable key, or no SDP), 486 when the room has its maximum of
// publishers, 503 without RTP ports. The caller's BYE takes it out of
// the room ("unpublished", "leaving"); destroying the room, or the host
// removing the participant (Room.RemoveRemotePublisher, the room's kick
// refuses remote publishers), sends it a BYE. Its re-INVITEs are
// answered with the call's codec (488 without it), its INFOs with 200.
// Plugin.RoomCalls lists the callers: room, participant id, codec, whom
// each hears, packet counts.
//
// # Rooms: calls placed into a room
//
// The other way, an ianua extension of call: a handle places a SIP call
// whose callee joins a room, with no PeerConnection (a phone brought into
// a conference with one request):
//
//	{"request":"call","uri":"sip:bob@host","room":1234,"pin":"...","display":"Bob"}
//
// with no JSEP. Agent.CallRoom(ctx, transaction, RoomDial) is the same
// for hosts that do not speak JSON. The room is one of the video-room
// plugin (sfu) of the handle's router; pin is its PIN, if it has one;
// display the callee's name in the room (its user part by default).
// The call goes out as any call of the handle's account (registration or
// guest, digest authentication, proxy, outbound_proxy, transport,
// headers, call_id, srtp and srtp_profile). The offer has the room's
// audio codecs that cross untranscoded, in the room's order (Opus for an
// Opus room, PCMU for audiocodec "pcmu", and so on), with
// telephone-event. Once answered, the callee is in the room exactly as a
// dial-in caller (above): a remote publisher of the codec it chose, which
// hears the room's active speaker (one publisher at a time, nothing is
// mixed). Events: calling {call_id, room}, proceeding {code}, ringing
// (early media is not relayed), accepted {username, room, id (its
// participant id), codec}, hangup {code, reason, room}. hangup sends a
// CANCEL while it rings (hangup 487), a BYE in the room (hangup 200);
// the callee's BYE, the room's destruction or the host removing the
// participant end it too, and detaching the handle. Refused at once:
// a JSEP or refer_id with room (444), no such room (444, wrapping
// sfu.ErrNoSuchRoom), a wrong pin (444, sfu.ErrUnauthorized), a full
// room (447, sfu.ErrPublishersFull), no video-room plugin on the router
// (442), a room with none of Opus, G.722, PCMU, PCMA (448), and what a
// call refuses (447 when not registered or in a call: a handle has one
// call at a time, room or not). A callee that refuses ends it with its
// code (hangup 488 when it has none of the room's codecs); one that
// answers with a codec not offered, or without a usable key with
// sdes_mandatory, gets a BYE and the hangup says 488; a room destroyed
// or filled while it rang, 404 or 486. Hold, update, transfer, info,
// dtmf_info and message in the dialog are not available in such a call
// (447). The call is listed by Plugin.RoomCalls, and Status has its
// room.
//
// An established call moves into a room with one request (another
// ianua extension; Agent.JoinRoom in Go):
//
//	{"request":"join_room","room":1234,"pin":"...","display":"Bob"}
//
// The SIP peer becomes a remote publisher of the room that hears its
// active speaker, as above; the browser's PeerConnection is hung up (the
// core's "hangup" event; the call's "hangup" event does not come); the
// SIP dialog goes on untouched: no re-INVITE, the same RTP ports, codec
// and SRTP keys (what the peer hears becomes a new stream, the room's
// subscription, numbered without gaps across speaker changes). Event:
// room_joined {room, id, codec, username}; then the handle is in a room
// call as if it had placed it (hangup sends the BYE; events as above).
// display defaults to the peer's user part. Refused: no established call,
// or one on hold or being renegotiated (447), no such room, wrong pin,
// full (as above), a room without the call's codec (448: nothing is
// transcoded). Video of the call stops (its port closes): rooms take
// the SIP side's audio only.
//
// # Not supported yet
//
// AEAD SRTP suites (RFC 7714), video codecs other than VP8 and H.264
// (VP9, AV1) and more than one video stream (the first m=video), SIP over WebSocket (RFC 7118),
// the register "sips" flag (a sips: proxy or username is how to ask for
// TLS), RFC 5626 keep-alives and flow failure detection on a
// registration's connection, a TCP read timeout (an idle connection
// stays open until the peer or Close ends it), ha1_secret, helper sessions (master_id) and so concurrent calls
// per handle (to follow a transfer while in a call, use another handle
// registered with the same identity, as a Janus client would use a
// helper), SUBSCRIBE (subscribe, unsubscribe; NOTIFYs are taken only in
// a call's dialog), REFER outside a dialog, recording,
// progress/send_ringing, offerless INVITEs (488), codec changes in the
// middle of a call (in update or in the peer's re-INVITE),
// incoming_header_prefixes (no "headers" in events), RTP forwarders,
// symmetric RTP (media always goes to the address in the peer's SDP),
// RTCP reports towards the SIP peer (video gets PLIs only), and DNS SRV/NAPTR (RFC 3263): hosts resolve
// by A record, port 5060 when absent. In rooms: mixing (a caller hears one
// publisher), talking and active-speaker detection of callers (G.711
// and Opus carry no RFC 6464 level from phones), DTMF (a PIN prompt),
// and callers relayed to the other nodes of a cluster (they are remote
// publishers, which a node does not announce).
//
// Where it differs from Janus: force_tcp and force_udp pick the
// account's transport, not its stack's (Janus gives each account a
// stack of its own, listening on that transport only): every handle is
// reachable on every transport the plugin listens on. Guests share the gateway's address
// (Janus gives each a socket of its own), so two handles of one user
// part cannot both be reached; a message in a dialog needs an
// established call (Janus
// also takes one while inviting); incoming message events carry the
// MESSAGE's Call-ID; update does not look for the JSEP "update" flag;
// updatingcall's offer does not show the peer's direction (see above);
// transfer adds the referred event and a Referred-By header, and a
// refer_id serves only handles of the account that got the REFER. An
// update whose JSEP offer the plugin refuses (it drops the call's codec,
// or adds a data channel) changes nothing: the core applies a
// renegotiation offer only once the plugin takes it. One refused after
// the re-INVITE went out (the SIP peer said no) is answered anyway, with
// the error event (449).
package sipgw
