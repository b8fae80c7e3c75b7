package main

import (
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	rtcpreport "github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"
)

// Payload types and sizes of the synthetic media.
const (
	vp8PT  = 96
	opusPT = 111
)

// clients are the pion APIs of the publisher and subscribers that talk to
// one server, all with one host candidate, on ip.
type clients struct {
	ip  net.IP
	pub *webrtc.API
	sub *webrtc.API // shared by the subscribers (raw ones build their own)
}

func newClients(ip net.IP) (*clients, error) {
	pub, err := publisherAPI(ip)
	if err != nil {
		return nil, err
	}
	sub, err := newSubscriberAPI(ip, nil)
	if err != nil {
		return nil, err
	}
	return &clients{ip: ip, pub: pub, sub: sub}, nil
}

// dtlsRetransmit is the client's first DTLS retransmission timeout.
// pion's default is 1 s; a ClientHello that reaches Janus before its ICE
// agent is ready is dropped, and the setup then takes a second more.
// Browsers retransmit sooner.
const dtlsRetransmit = 100 * time.Millisecond

// settings keeps a client on one local address: host candidates on ip
// only (127.0.0.1, loopback; or janusIP in the namespace of a -janus run),
// UDP over IPv4, no mDNS, pion quiet.
//
// Janus's clients use janusIP rather than 127.0.0.1: ICE between Janus's
// only candidate (janusIP) and a client whose only candidate is 127.0.0.1
// never succeeds — libnice's checks towards 127.0.0.1 go unanswered — and
// with both addresses the failing pair delays some setups by a second.
func settings(ip net.IP) webrtc.SettingEngine {
	s := webrtc.SettingEngine{LoggerFactory: quietLog()}
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(ip.IsLoopback())
	s.SetIPFilter(func(a net.IP) bool { return a.Equal(ip) })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetDTLSRetransmissionInterval(dtlsRetransmit)
	return s
}

// quietLog silences pion: closing hundreds of clients makes it complain
// about every pipe it finds closed.
func quietLog() logging.LoggerFactory {
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelDisabled
	return lf
}

// mediaEngine registers VP8 and Opus with the feedback and header
// extensions a browser offers: NACK, PLI, FIR, transport-wide-cc (so that
// the server can estimate the subscriber's bandwidth), mid, rid.
func mediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: fb},
		PayloadType:        vp8PT,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: "transport-cc"}}},
		PayloadType: opusPT,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	for _, e := range []struct {
		uri   string
		kinds []webrtc.RTPCodecType
	}{
		{sdp.SDESMidURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		{sdp.SDESRTPStreamIDURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{sdp.TransportCCURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
	} {
		for _, k := range e.kinds {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: e.uri}, k); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// newSubscriberAPI builds a subscriber's pion API, on network n (nil: the
// operating system's): a receiver's RTCP as a browser sends it (NACKs,
// receiver reports, transport-wide-cc feedback) and nothing more — no
// stats, no jitter buffer, no decoding.
func newSubscriberAPI(ip net.IP, n transport.Net) (*webrtc.API, error) {
	m, err := mediaEngine()
	if err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	gen, err := nack.NewGeneratorInterceptor(nack.WithGeneratorLoggerFactory(quietLog()))
	if err != nil {
		return nil, err
	}
	reg.Add(gen)
	rr, err := rtcpreport.NewReceiverInterceptor(rtcpreport.WithReceiverLoggerFactory(quietLog()))
	if err != nil {
		return nil, err
	}
	reg.Add(rr)
	fb, err := twcc.NewSenderInterceptor(twcc.WithLoggerFactory(quietLog()))
	if err != nil {
		return nil, err
	}
	reg.Add(fb)
	s := settings(ip)
	if n != nil {
		s.SetNet(n)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s), webrtc.WithInterceptorRegistry(reg)), nil
}

// publisherAPI builds the publisher's pion API: pion's default
// interceptors (NACK responder, sender reports, transport-wide-cc
// sequence numbers, simulcast header extensions).
func publisherAPI(ip net.IP) (*webrtc.API, error) {
	m, err := mediaEngine()
	if err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(settings(ip)), webrtc.WithInterceptorRegistry(reg)), nil
}
