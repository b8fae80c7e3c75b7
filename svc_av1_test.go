package ianua

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/ianua/ianua/internal/av1dd"
)

// Ids of the dependency descriptor extension: as the publisher sends it,
// and as the subscriber negotiated it.
const (
	ddInID  = 5
	ddOutID = 9
)

// ddWriter writes descriptor fields most significant bit first (AV1 RTP
// payload format, A.4.1).
type ddWriter struct {
	b []byte
	n int // bits written
}

func (w *ddWriter) put(v uint32, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>i&1 == 1 {
			w.b[w.n/8] |= 0x80 >> (w.n % 8)
		}
		w.n++
	}
}

// ddTemplate is the template index of a frame in ddStructure's layout:
// per spatial layer, a keyframe template, then one per temporal layer.
func ddTemplate(nt, sid, tid int, key bool) int {
	if key {
		return sid * (nt + 1)
	}
	return sid*(nt+1) + 1 + tid
}

// ddDescriptor builds a descriptor of a frame of an LxTy stream (ns
// spatial, nt temporal layers); with the structure on the first packet
// of a keyframe. Decode target s*nt+t is spatial layer s at temporal
// layer t; a frame is a switch point for the decode targets of its
// layers when it is of temporal layer 0 or below the target's, and
// discardable for the target of its own temporal layer above 0.
func ddDescriptor(ns, nt, sid, tid int, key, start, end bool, frame uint16) []byte {
	w := &ddWriter{}
	w.put(b2u(start), 1)
	w.put(b2u(end), 1)
	w.put(uint32(ddTemplate(nt, sid, tid, key)), 6)
	w.put(uint32(frame), 16)
	if !(key && start && sid == 0) {
		return w.b
	}
	w.put(0b10000, 5) // structure present, nothing else
	w.put(0, 6)       // template_id_offset
	dts := ns * nt
	w.put(uint32(dts-1), 5)
	type tmpl struct{ s, t int }
	var ts []tmpl
	for s := range ns {
		ts = append(ts, tmpl{s, 0}) // keyframe
		for t := range nt {
			ts = append(ts, tmpl{s, t})
		}
	}
	for i := range ts {
		switch {
		case i == len(ts)-1:
			w.put(3, 2)
		case ts[i+1].s > ts[i].s:
			w.put(2, 2)
		case ts[i+1].t > ts[i].t:
			w.put(1, 2)
		default:
			w.put(0, 2)
		}
	}
	for _, tp := range ts {
		for dt := range dts {
			s, t := dt/nt, dt%nt
			switch {
			case tp.s > s || tp.t > t:
				w.put(uint32(av1dd.NotPresent), 2)
			case tp.t == 0 || tp.t < t:
				w.put(uint32(av1dd.Switch), 2)
			default:
				w.put(uint32(av1dd.Discardable), 2)
			}
		}
	}
	for i, tp := range ts {
		key := i%(nt+1) == 0
		if !key {
			w.put(1, 1)
			w.put(uint32(ns*(1<<(nt-1))/(1<<tp.t))-1, 4) // the same layer, earlier
		}
		if tp.s > 0 {
			w.put(1, 1)
			w.put(0, 4) // the lower layer of the temporal unit
		}
		w.put(0, 1)
	}
	// chains_cnt = 0: ns(dts+1), w-1 bits of zero.
	bitsLen := 0
	for x := dts + 1; x != 0; x >>= 1 {
		bitsLen++
	}
	w.put(0, bitsLen-1)
	w.put(1, 1) // resolutions
	for s := range ns {
		w.put(uint32(320<<s-1), 16)
		w.put(uint32(180<<s-1), 16)
	}
	return w.b
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// av1Packet is one AV1 packet of a frame: the aggregation header (N on
// the first packet of a keyframe), then the spatial and temporal layer
// and the packet's index in the temporal unit, for the checks.
func av1Packet(seq uint16, ts uint32, ns, nt, sid, tid int, key bool, i, n int, frame uint16, marker bool, size int) []byte {
	payload := make([]byte, max(size, 4))
	if key && sid == 0 && i == 0 {
		payload[0] = 0x08 // N
	}
	payload[1], payload[2] = byte(sid), byte(tid)
	h := rtp.Header{Version: 2, PayloadType: 45, SequenceNumber: seq, Timestamp: ts, SSRC: 11, Marker: marker}
	if err := h.SetExtension(ddInID, ddDescriptor(ns, nt, sid, tid, key, i == 0, i == n-1, frame)); err != nil {
		panic(err)
	}
	raw, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
	if err != nil {
		panic(err)
	}
	return raw
}

// av1Stream feeds temporal units of an AV1 LxTy stream, perFrame packets
// per layer frame, the marker on the unit's last packet.
type av1Stream struct {
	f              *feeder
	ns, nt         int
	perFrame       int
	seq            uint16
	ts             uint32
	frame          uint16
	sent           [][]byte // the raw packets of the last unit
	activeSpatials int      // layers sent (default ns)
}

func (st *av1Stream) unit(tid int, key bool) {
	st.sent = st.sent[:0]
	layers := st.ns
	if st.activeSpatials > 0 {
		layers = st.activeSpatials
	}
	for sid := range layers {
		for i := range st.perFrame {
			raw := av1Packet(st.seq, st.ts, st.ns, st.nt, sid, tid, key, i, st.perFrame, st.frame, sid == layers-1 && i == st.perFrame-1, 20)
			st.seq++
			st.sent = append(st.sent, raw)
			<-st.f.idle
			st.f.in <- raw
		}
		st.frame++
	}
	st.ts += 3000
}

// av1Binding is a TrackLocalContext that negotiated AV1, with or without
// the dependency descriptor.
type av1Binding struct {
	recordBinding
	dd   bool
	null *nullWriter // instead of recording
}

func (b *av1Binding) WriteStream() webrtc.TrackLocalWriter {
	if b.null != nil {
		return b.null
	}
	return b.rw
}

func (b *av1Binding) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000}, PayloadType: 45}}
}

func (b *av1Binding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	if !b.dd {
		return nil
	}
	return []webrtc.RTPHeaderExtensionParameter{{URI: av1dd.URI, ID: ddOutID}}
}

var av1Codec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000}, PayloadType: 45}

// av1Source is a fed AV1 source whose packets carry the dependency
// descriptor, and a counter of its keyframe requests.
func av1Source(t *testing.T) (*MediaRouter, *Source, *atomic.Int32) {
	t.Helper()
	return ddSource(t, av1Codec)
}

// ddSource is a fed video source of this codec whose packets carry the
// dependency descriptor, and a counter of its keyframe requests.
func ddSource(t *testing.T, codec webrtc.RTPCodecParameters) (*MediaRouter, *Source, *atomic.Int32) {
	t.Helper()
	r, err := NewMediaRouter(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(t.Context()) })
	var asked atomic.Int32
	src, err := r.NewSource(SourceParams{ID: "dd", Kind: webrtc.RTPCodecTypeVideo, Codec: codec,
		HeaderExtensions:  []webrtc.RTPHeaderExtensionParameter{{URI: av1dd.URI, ID: ddInID}},
		OnKeyframeRequest: func(*Source) { asked.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return r, src, &asked
}

func av1Subscriber(t *testing.T, r *MediaRouter, src *Source, dd bool) (*Subscription, *recordWriter) {
	t.Helper()
	return recordSubscription(t, r, src, func(b recordBinding) webrtc.TrackLocalContext { return &av1Binding{recordBinding: b, dd: dd} })
}

// checkContiguous fails unless the packets' sequence numbers follow each
// other from first.
func checkContiguous(t *testing.T, what string, pkts []rtp.Packet, first uint16) uint16 {
	t.Helper()
	for i, p := range pkts {
		if p.SequenceNumber != first+uint16(i) {
			t.Errorf("%s: packet %d has sequence number %d, want %d", what, i, p.SequenceNumber, first+uint16(i))
		}
	}
	return first + uint16(len(pkts))
}

// checkLayers fails unless the packets are those of the spatial layers
// 0..sid of one temporal unit of perFrame packets per layer, with the
// marker on the last only.
func checkLayers(t *testing.T, what string, pkts []rtp.Packet, sid, perFrame int) {
	t.Helper()
	if len(pkts) != (sid+1)*perFrame {
		t.Fatalf("%s: %d packets, want %d", what, len(pkts), (sid+1)*perFrame)
	}
	for i, p := range pkts {
		if int(p.Payload[1]) != i/perFrame {
			t.Errorf("%s: packet %d of spatial layer %d, want %d", what, i, p.Payload[1], i/perFrame)
		}
		if p.Marker != (i == len(pkts)-1) {
			t.Errorf("%s: packet %d has marker %v", what, i, p.Marker)
		}
	}
}

// An AV1 L3T3 subscriber gets the spatial layers it asked for, read from
// the dependency descriptor: lower ones from the next temporal unit, with
// the marker bit on the end of the highest forwarded frame; higher ones
// from the next keyframe, which is asked for; sequence numbers without a
// gap. The descriptor goes on with the subscriber's id if it negotiated
// it, and not otherwise.
func TestAV1SpatialLayers(t *testing.T) {
	r, src, asked := av1Source(t)
	sub, rw := av1Subscriber(t, r, src, true)
	_, plain := av1Subscriber(t, r, src, false)
	st := &av1Stream{f: newFeeder(t, src), ns: 3, nt: 3, perFrame: 2}

	st.unit(0, true)
	st.f.sync()
	all := rw.take()
	checkLayers(t, "all layers", all, 2, 2)
	next := checkContiguous(t, "all layers", all, all[0].SequenceNumber)
	for i, p := range all {
		var in rtp.Packet
		if err := in.Unmarshal(st.sent[i]); err != nil {
			t.Fatal(err)
		}
		if got := p.GetExtension(ddOutID); !bytes.Equal(got, in.GetExtension(ddInID)) {
			t.Errorf("packet %d: descriptor %x, want %x", i, got, in.GetExtension(ddInID))
		}
		if p.GetExtension(ddInID) != nil && ddInID != ddOutID {
			t.Errorf("packet %d: the publisher's extension id kept", i)
		}
	}
	for _, p := range plain.take() {
		if p.Extension || len(p.Extensions) != 0 {
			t.Fatal("a subscriber without the descriptor got header extensions")
		}
	}
	if rates := src.SpatialBitrates(); rates != [maxSpatial]uint64{} {
		t.Logf("rates before a second: %v", rates) // measured once a second
	}

	if err := sub.SetSpatialLayer(0); err != nil {
		t.Fatal(err)
	}
	st.unit(1, false)
	st.unit(2, false)
	st.f.sync()
	low := rw.take()
	checkLayers(t, "layer 0, first unit", low[:2], 0, 2)
	checkLayers(t, "layer 0, second unit", low[2:], 0, 2)
	next = checkContiguous(t, "layer 0", low, next)

	if err := sub.SetSpatialLayer(1); err != nil {
		t.Fatal(err)
	}
	if asked.Load() == 0 {
		t.Error("no keyframe asked for the switch up")
	}
	st.unit(0, false)
	st.f.sync()
	pkts := rw.take()
	checkLayers(t, "before the keyframe", pkts, 0, 2)
	next = checkContiguous(t, "before the keyframe", pkts, next)
	if cur, want := sub.SpatialLayer(); cur != 0 || want != 1 {
		t.Errorf("SpatialLayer() = %d, %d before the keyframe", cur, want)
	}
	st.unit(0, true)
	st.f.sync()
	pkts = rw.take()
	checkLayers(t, "at the keyframe", pkts, 1, 2)
	next = checkContiguous(t, "at the keyframe", pkts, next)
	if cur, want := sub.SpatialLayer(); cur != 1 || want != 1 {
		t.Errorf("SpatialLayer() = %d, %d", cur, want)
	}

	// All layers again (-1) also waits for a keyframe.
	if err := sub.SetSpatialLayer(-1); err != nil {
		t.Fatal(err)
	}
	st.unit(2, false)
	st.f.sync()
	pkts = rw.take()
	checkLayers(t, "all, before the keyframe", pkts, 1, 2)
	next = checkContiguous(t, "all, before the keyframe", pkts, next)
	st.unit(0, true)
	st.f.sync()
	pkts = rw.take()
	checkLayers(t, "all, at the keyframe", pkts, 2, 2)
	checkContiguous(t, "all, at the keyframe", pkts, next)

	// The publisher drops its top layer: the marker of its last packet
	// still ends the units of a subscriber that asked for layer 2.
	if err := sub.SetSpatialLayer(2); err != nil {
		t.Fatal(err)
	}
	st.activeSpatials = 2
	st.unit(0, false)
	st.f.sync()
	checkLayers(t, "two layers sent", rw.take(), 1, 2)
	if err := sub.SetSpatialLayer(3); err == nil {
		t.Error("spatial layer 3 accepted")
	}
}

// An AV1 L1T3 subscriber limited to lower temporal layers gets only their
// frames; going up starts at a frame that is a switch point for the
// wanted layer (its decode target indication), not before.
func TestAV1TemporalLayers(t *testing.T) {
	r, src, _ := av1Source(t)
	sub, rw := av1Subscriber(t, r, src, true)
	st := &av1Stream{f: newFeeder(t, src), ns: 1, nt: 3, perFrame: 2}
	tids := func(pkts []rtp.Packet) []int {
		var out []int
		for i, p := range pkts {
			if i%2 == 0 {
				out = append(out, int(p.Payload[2]))
			}
			if p.Marker != (i%2 == 1) {
				t.Errorf("packet %d of layer %d: marker %v", i, p.Payload[2], p.Marker)
			}
		}
		return out
	}
	st.unit(0, true)
	st.f.sync()
	next := checkContiguous(t, "keyframe", rw.take(), 0) // numbering starts at the source's

	if err := sub.SetTemporalLayer(0); err != nil {
		t.Fatal(err)
	}
	for _, tid := range []int{2, 1, 2, 0, 2, 1, 2, 0} {
		st.unit(tid, false)
	}
	st.f.sync()
	pkts := rw.take()
	if got := tids(pkts); len(got) != 2 || got[0] != 0 || got[1] != 0 {
		t.Errorf("temporal layer 0: frames of layers %v, want [0 0]", got)
	}
	next = checkContiguous(t, "temporal layer 0", pkts, next)

	// Up to all: not at a frame of layer 2 (discardable, not a switch
	// point), from the next of layer 1.
	if err := sub.SetTemporalLayer(-1); err != nil {
		t.Fatal(err)
	}
	for _, tid := range []int{2, 1, 2, 0} {
		st.unit(tid, false)
	}
	st.f.sync()
	pkts = rw.take()
	if got := tids(pkts); len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 0 {
		t.Errorf("up to all: frames of layers %v, want [1 2 0]", got)
	}
	checkContiguous(t, "up to all", pkts, next)
	if err := sub.SetTemporalLayer(3); err == nil {
		t.Error("temporal layer 3 accepted")
	}
}

// Packets whose template the source cannot resolve (the keyframe with the
// structure was missed) make it ask for a keyframe.
func TestAV1MissingStructure(t *testing.T) {
	r, src, asked := av1Source(t)
	_, rw := av1Subscriber(t, r, src, true)
	st := &av1Stream{f: newFeeder(t, src), ns: 3, nt: 3, perFrame: 1}
	st.unit(0, false)
	st.f.sync()
	if asked.Load() == 0 {
		t.Error("no keyframe asked without a structure")
	}
	if got := rw.take(); len(got) != 0 {
		t.Errorf("%d packets forwarded before a keyframe", len(got))
	}
	st.unit(0, true)
	st.f.sync()
	checkLayers(t, "keyframe", rw.take(), 2, 1)
}

// An AV1 source measures each spatial layer's bitrate from the dependency
// descriptor, for the automatic layer choice.
func TestAV1SpatialBitrates(t *testing.T) {
	_, src, _ := av1Source(t)
	sizes := []int{100, 300, 900}
	var seq uint16
	var frame uint16
	i := 0
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = src.ReadPackets(0, func(b []byte) (int, error) {
			if time.Since(start) > 1300*time.Millisecond {
				return 0, io.EOF
			}
			sid := i % 3
			if sid == 0 {
				time.Sleep(2 * time.Millisecond)
			}
			raw := av1Packet(seq, uint32(i/3)*3000, 3, 1, sid, 0, i < 3, 0, 1, frame, sid == 2, sizes[sid])
			seq++
			frame++
			i++
			return copy(b, raw), nil
		})
	}()
	<-done
	rates := src.SpatialBitrates()
	if rates[0] == 0 || rates[1] <= rates[0] || rates[2] <= rates[1] {
		t.Fatalf("spatial bitrates %v: want three, growing with the layers' sizes", rates)
	}
	// Header and descriptor included: 12+4+3 bytes more per packet.
	if ratio := float64(rates[2]) / float64(rates[0]); ratio < 6 || ratio > 9 {
		t.Errorf("layer 2 / layer 0 = %.2f, want about 919/119 = 7.7", ratio)
	}
}

// Reading, layer choice and forwarding of AV1 with the descriptor
// allocate nothing per packet.
func TestAV1ForwardAllocs(t *testing.T) {
	r, src, _ := av1Source(t)
	w := &nullWriter{}
	subs := make([]*Subscription, 3)
	for i := range subs {
		s, err := r.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		sub, err := src.Subscribe(SubscribeParams{Handle: newHandle(s, 1, nopPlugin{})})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sub.Bind(&av1Binding{recordBinding: recordBinding{fakeBinding: fakeBinding{ssrc: webrtc.SSRC(7 + i)}}, dd: true, null: w}); err != nil {
			t.Fatal(err)
		}
		subs[i] = sub
	}
	rd, err := src.newReader(0, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.close()
	// A unit of three layers, two packets each, of layer tid.
	unit := func(seq uint16, ts uint32, tid int, key bool, frame uint16) [][]byte {
		var out [][]byte
		for sid := range 3 {
			for i := range 2 {
				out = append(out, av1Packet(seq, ts, 3, 3, sid, tid, key, i, 2, frame, sid == 2 && i == 1, 1000))
				seq++
			}
			frame++
		}
		return out
	}
	for _, raw := range unit(0, 0, 0, true, 0) {
		rd.ingest(raw)
	}
	_ = subs[1].SetSpatialLayer(1)
	_ = subs[2].SetTemporalLayer(1)
	// 64 units, fed in a cycle: sequence numbers and timestamps go on.
	var units [][][]byte
	for u := range 64 {
		units = append(units, unit(uint16(6+6*u), uint32(3000*(u+1)), []int{0, 2, 1, 2}[u%4], false, uint16(3+3*u)))
	}
	u := 0
	before := w.n.Load()
	allocs := testing.AllocsPerRun(50, func() {
		for _, raw := range units[u%len(units)] {
			rd.ingest(raw)
		}
		u++
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per temporal unit, want 0", allocs)
	}
	if got := w.n.Load() - before; got == 0 {
		t.Error("nothing forwarded")
	}
}

// A retransmission (answer to a NACK) carries the packet's descriptor as
// the original did, under the subscriber's id.
func TestAV1RetransmitKeepsDescriptor(t *testing.T) {
	r, src, _ := av1Source(t)
	sub, rw := av1Subscriber(t, r, src, true)
	st := &av1Stream{f: newFeeder(t, src), ns: 3, nt: 3, perFrame: 1}
	st.unit(0, true)
	st.f.sync()
	sent := rw.take()
	if len(sent) != 3 {
		t.Fatalf("%d packets, want 3", len(sent))
	}
	// The first packet's descriptor has the structure (two-byte form),
	// the others not.
	for i, p := range sent {
		sub.retransmit(p.SequenceNumber)
		again := rw.take()
		if len(again) != 1 {
			t.Fatalf("packet %d: %d retransmissions, want 1", i, len(again))
		}
		if again[0].SequenceNumber != p.SequenceNumber || !bytes.Equal(again[0].Payload, p.Payload) {
			t.Errorf("packet %d: retransmitted %d", i, again[0].SequenceNumber)
		}
		if got, want := again[0].GetExtension(ddOutID), p.GetExtension(ddOutID); len(want) == 0 || !bytes.Equal(got, want) {
			t.Errorf("packet %d: descriptor %x, want %x", i, got, want)
		}
	}
}

// An RTP forwarder whose receiver takes the dependency descriptor (a
// cluster relay) sends it under the receiver's id; one without, none.
func TestAV1ForwarderKeepsDescriptor(t *testing.T) {
	_, src, _ := av1Source(t)
	st := &av1Stream{f: newFeeder(t, src), ns: 3, nt: 3, perFrame: 1}
	for _, keep := range []bool{true, false} {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := RTPForwarderParams{Host: "127.0.0.1", Port: conn.LocalAddr().(*net.UDPAddr).Port}
		if keep {
			p.HeaderExtensions = []webrtc.RTPHeaderExtensionParameter{{URI: av1dd.URI, ID: 9}}
		}
		fwd, err := src.Forward(p)
		if err != nil {
			t.Fatal(err)
		}
		st.unit(0, true)
		st.f.sync()
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 1500)
		for i := range 3 {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("keep %v: packet %d: %v", keep, i, err)
			}
			var pkt rtp.Packet
			if err := pkt.Unmarshal(buf[:n]); err != nil {
				t.Fatal(err)
			}
			want := rtp.Packet{}
			_ = want.Unmarshal(st.sent[i])
			got, orig := pkt.GetExtension(9), want.GetExtension(ddInID)
			if keep && !bytes.Equal(got, orig) {
				t.Errorf("packet %d: descriptor %x under id 9, want %x", i, got, orig)
			}
			if !keep && pkt.Extension {
				t.Errorf("packet %d: extensions %v for a plain RTP receiver", i, pkt.Extensions)
			}
		}
		fwd.Stop()
		_ = conn.Close()
	}
}
