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
// every handle shares; requests inside a dialog are routed by Call-ID and
// our tag, new INVITEs to the handle registered for the Request-URI's user
// (so handles of one gateway may call each other). Each call takes an
// RTP and an RTCP port on Params.LocalIP (ephemeral, or from
// RTPPortMin..RTPPortMax). Close the plugin after the router (the router
// does it itself when the core has ianua.Closer); Close sends what it can
// (BYE, CANCEL, un-REGISTER) and waits for every goroutine of the plugin.
//
// sipgo's timers (T1, T2, T4) are process-wide variables of package
// github.com/emiago/sipgo/sip; a host that wants other than RFC 3261's
// defaults sets them with sip.SetTimers before New.
//
// # Media
//
// The SIP side is RTP/AVP audio (RFC 3551), SRTP on request. Outgoing calls offer the
// codecs of the browser's offer that both legs can carry (Opus, G.722,
// PCMU, PCMA) with the browser's payload types, plus telephone-event (RFC
// 4733); the browser is answered once the SIP peer has chosen, with that
// codec only (SetCodecPreferences), so packets cross untouched but for the
// payload type, the SSRC on the WebRTC side and header extensions.
// Incoming calls are offered to the browser with the caller's codecs we
// can carry; the codec the browser picks is the one answered to the caller.
// RTCP from the SIP peer is read and dropped (on its a=rtcp port, port+1,
// or the RTP port with rtcp-mux); none is sent to it. The SIP peer's
// telephone-event packets are relayed to the browser when it negotiated
// telephone-event, and reported as "dtmf" events.
//
// SDES-SRTP (RFC 4568, AES_CM_128_HMAC_SHA1_80 and _32): "srtp":
// "sdes_optional" offers a key on RTP/AVP and falls back to plain RTP if
// the answer has none; "sdes_mandatory" offers RTP/SAVP and ends the call
// (488) without a key in the answer. An incoming offer with a key is
// answered with ours (incomingcall says "srtp"), and accept with
// "sdes_mandatory" of an offer without one is refused with 452, as in
// Janus. Keys without MKI, lifetime ignored; re-INVITEs may rekey.
//
// # Supported requests
//
//   - register: username (events report its user part, as Janus does),
//     secret, authuser, display_name, user_agent,
//     proxy (the registrar), outbound_proxy (every request goes there
//     first), headers, register_ttl, refresh, type "guest" and
//     send_register false (no REGISTER). Digest authentication (RFC 3261
//     section 22) on 401 and 407; the registration is refreshed at three
//     quarters of the granted lifetime and withdrawn on unregister or
//     detach. Events: registering, registered, registration_failed {code,
//     reason}, unregistering, unregistered.
//   - call: uri, headers, call_id, srtp, srtp_profile, with the browser's
//     JSEP offer. Events: calling {call_id}, proceeding {code}, ringing,
//     progress (183 with SDP: early media, JSEP answer), accepted (JSEP
//     answer unless progress had it), hangup {code, reason}. The account's
//     secret answers a challenge of the INVITE too.
//   - accept (JSEP answer to the incomingcall offer; headers, srtp) and
//     decline (code, default 486; headers) of an incomingcall {username,
//     displayname, callee, call_id, srtp} event with a JSEP offer. A call
//     that arrives during another gets 486 and a missed_call event.
//   - hangup (CANCEL while calling, BYE in a call; headers), hold
//     (direction sendonly, the default, recvonly or inactive) and unhold
//     (re-INVITE, one at a time, the last wish winning; events holding and
//     resuming), dtmf_info (digit, duration;
//     INFO application/dtmf-relay; event dtmfsent), info (type, content;
//     event infosent).
//   - From the SIP side: BYE ("hangup" 200 BYE), CANCEL ("hangup" 487),
//     re-INVITE (answered by the plugin, as Janus's autoaccept_reinvites:
//     a sendonly offer gets recvonly), INFO ("info" event; with
//     application/dtmf-relay also a "dtmf" event {signal, duration}),
//     RFC 4733 key presses ("dtmf"), OPTIONS (200).
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
// # Not supported yet
//
// AEAD SRTP suites (RFC 7714), video, TCP/TLS transports (force_tcp,
// sips), ha1_secret, helper sessions (master_id) and so concurrent calls
// per account,
// transfers (REFER), MESSAGE, SUBSCRIBE/NOTIFY, recording, update
// (renegotiation from the browser), progress/send_ringing, offerless
// INVITEs (488), relaying re-INVITEs to the browser (autoaccept_reinvites
// false), incoming_header_prefixes, RTP forwarders, symmetric RTP (media
// always goes to the address in the peer's SDP), RTCP towards the SIP peer,
// and DNS SRV/NAPTR (RFC 3263): hosts resolve by A record, port 5060 when
// absent.
package sipgw
