// Package av1dd parses the Dependency Descriptor RTP header extension (AV1
// RTP payload format, Appendix A: https://aomediacodec.github.io/av1-rtp-spec/#appendix),
// which tells a forwarder, without reading the payload, each packet's
// spatial and temporal layer, where its frame starts and ends, and how the
// frame relates to each decode target (DTIs). Chrome sends it with AV1 and
// scalability modes such as L1T3 or L3T3.
//
// The frame dependency structure comes once per coded video sequence (on
// keyframes); later packets name a template of it. A Parser keeps the
// latest structure and resolves each packet against it without allocating;
// only a new structure allocates, and a Structure is never changed once
// returned, so that goroutines may share it.
//
// It imports nothing of ianua's.
package av1dd
