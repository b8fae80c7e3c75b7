// Package rtpmunge holds the per-subscription rewriting of a forwarded RTP
// stream, and the codec parsing it needs, as pure state machines with no
// I/O and no allocation per packet.
//
// A subscription forwards one incoming stream at a time (a publisher's
// track, one simulcast layer of it) and switches between them. Munger keeps
// the outgoing sequence numbers and timestamps continuous across those
// switches and across packets the subscription chooses not to forward (RFC
// 3550 section 5.1: a receiver takes a sequence gap for loss and a
// timestamp jump for a pause), while real losses stay gaps so that the
// receiver NACKs them (RFC 4585 section 6.2.1). VP8Munger does the same for
// the VP8 picture ID and TL0PICIDX (RFC 7741 section 4.2), which decoders
// use to detect lost frames. KeyFrame and its per-codec helpers tell where
// a switch may happen.
//
// It imports nothing of ianua's.
package rtpmunge
