package sipgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/ianua/ianua"
	"github.com/ianua/ianua/internal/testpeer"
)

func TestMain(m *testing.M) {
	// sipgo's timers are process-wide; short ones make a peer that never
	// answers time out in 64*T1 = 1.6 s instead of 32 s.
	sip.SetTimers(25*time.Millisecond, 200*time.Millisecond, 250*time.Millisecond)
	sip.SetDefaultLogger(testpeer.QuietLogger())
	goleak.VerifyTestMain(m)
}

// checkLeaks fails the test if goroutines started during it outlive it. It
// must be called first, so that its cleanup runs after every other one.
func checkLeaks(t testing.TB) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// env is a gateway on loopback with a router, a session and one handle.
type env struct {
	t   *testing.T
	gw  *Plugin
	r   *ianua.MediaRouter
	s   *ianua.Session
	h   *ianua.Handle
	log *testpeer.EventLog
	tx  atomic.Int64
	// peers are the SIP peers' cleanups, run after the gateway closed.
	peers []func()
}

// afterGateway runs f at the end of the test, once the gateway is closed.
func (e *env) afterGateway(f func()) { e.peers = append(e.peers, f) }

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, Params{})
}

// newEnvWith is newEnv with params (Logger and ListenAddr are the tests').
func newEnvWith(t *testing.T, params Params) *env {
	t.Helper()
	checkLeaks(t)
	params.Logger, params.ListenAddr = testpeer.QuietLogger(), "127.0.0.1:0"
	gw, err := New(params)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, gw: gw}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := gw.Close(ctx); err != nil {
			t.Errorf("gateway close: %v", err)
		}
		// The SIP peers go after the gateway, which may still talk to
		// them while it closes (BYE, un-REGISTER).
		for i := len(e.peers) - 1; i >= 0; i-- {
			e.peers[i]()
		}
	})
	e.r = testpeer.NewRouter(t, nil, gw)
	e.s, e.h, e.log = e.newHandle()
	return e
}

func (e *env) newHandle() (*ianua.Session, *ianua.Handle, *testpeer.EventLog) {
	e.t.Helper()
	s, err := e.r.NewSession()
	if err != nil {
		e.t.Fatal(err)
	}
	log := testpeer.Watch(s)
	h, err := s.Attach(Name)
	if err != nil {
		e.t.Fatal(err)
	}
	return s, h, log
}

// gwURI is a SIP URI for user at the gateway's socket.
func (e *env) gwURI(user string) string {
	return fmt.Sprintf("sip:%s@%s", user, e.gw.Addr())
}

// send sends a message to h and returns the error (nil when accepted).
func (e *env) send(h *ianua.Handle, body any, jsep *ianua.JSEP) (string, error) {
	tr := fmt.Sprintf("tx-%d", e.tx.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := h.Message(ctx, ianua.Message{Body: testpeer.JSON(body), JSEP: jsep, Transaction: tr})
	if err == nil && !reply.Async {
		e.t.Errorf("reply to %v not async", body)
	}
	return tr, err
}

func (e *env) must(h *ianua.Handle, body any, jsep *ianua.JSEP) string {
	e.t.Helper()
	tr, err := e.send(h, body, jsep)
	if err != nil {
		e.t.Fatalf("%v: %v", body, err)
	}
	return tr
}

// sipEvent matches the Janus SIP event {"sip":"event","result":{"event":name}}
// of handle.
func sipEvent(handle uint64, name string) func(ianua.Event) bool {
	return func(e ianua.Event) bool {
		if e.Type != ianua.EventPlugin || e.HandleID != handle {
			return false
		}
		return resultOf(e)["event"] == name
	}
}

func resultOf(e ianua.Event) map[string]any {
	var d struct {
		Result map[string]any `json:"result"`
	}
	_ = json.Unmarshal(e.Data, &d)
	return d.Result
}

func (e *env) wait(log *testpeer.EventLog, h *ianua.Handle, name string) ianua.Event {
	e.t.Helper()
	return log.Wait(e.t, 10*time.Second, name, sipEvent(h.ID(), name))
}

// register registers h as user at reg and waits for "registered".
func (e *env) register(h *ianua.Handle, log *testpeer.EventLog, reg *registrar, user string) {
	e.t.Helper()
	e.must(h, map[string]any{"request": "register", "username": fmt.Sprintf("sip:%s@127.0.0.1", user),
		"secret": reg.password, "proxy": reg.uri()}, nil)
	e.wait(log, h, "registered")
}

// browser is a pion client playing the browser on one handle.
type browser struct {
	t     *testing.T
	pc    *webrtc.PeerConnection
	h     *ianua.Handle
	track *webrtc.TrackLocalStaticRTP
	codec webrtc.RTPCodecCapability
	stop  chan struct{}
	wg    sync.WaitGroup

	received atomic.Int64 // packets of the remote audio track
	sent     atomic.Int64
	// video, when set, is the browser's camera (see withVideo).
	video         *webrtc.TrackLocalStaticRTP
	videoSent     atomic.Int64
	videoReceived atomic.Int64  // packets of the remote video track
	videoSSRC     atomic.Uint32 // of the remote video track
	plis          atomic.Int64  // keyframe requests (PLI, FIR) for our video
	tracks        atomic.Int32  // remote tracks
	mu            sync.Mutex
	mime          string // codec of the remote track
	ssrcs         map[uint32]bool
	// lastSeq and backJumps: received sequence numbers that went back
	// more than a reordering would (a receiver drops those as old).
	lastSeq   uint16
	backJumps int
	// Candidates wait until the description that needs them was sent:
	// the core refuses them on a handle that hung up and has no
	// PeerConnection yet.
	ready   bool
	pending []webrtc.ICECandidateInit
}

// codecs by name, for browser tracks.
var testCodecs = map[string]webrtc.RTPCodecCapability{
	"opus": {MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
	"pcmu": {MimeType: webrtc.MimeTypePCMU, ClockRate: 8000},
	"pcma": {MimeType: webrtc.MimeTypePCMA, ClockRate: 8000},
}

func newBrowser(t *testing.T, h *ianua.Handle, log *testpeer.EventLog, codec string) *browser {
	t.Helper()
	b := &browser{t: t, pc: testpeer.NewClient(t, testpeer.Options{}), h: h, codec: testCodecs[codec], stop: make(chan struct{})}
	var err error
	if b.track, err = webrtc.NewTrackLocalStaticRTP(b.codec, "mic", "browser"); err != nil {
		t.Fatal(err)
	}
	b.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		b.tracks.Add(1)
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			b.videoSSRC.Store(uint32(tr.SSRC()))
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				b.videoReceived.Add(1)
			}
		}
		b.mu.Lock()
		b.mime = tr.Codec().MimeType
		b.mu.Unlock()
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			b.mu.Lock()
			if b.ssrcs == nil {
				b.ssrcs = map[uint32]bool{}
			}
			b.ssrcs[pkt.SSRC] = true
			if b.received.Load() > 0 && int16(pkt.SequenceNumber-b.lastSeq) < -100 {
				b.backJumps++
			}
			b.lastSeq = pkt.SequenceNumber
			b.mu.Unlock()
			b.received.Add(1)
		}
	})
	b.pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		b.mu.Lock()
		if !b.ready {
			b.pending = append(b.pending, c.ToJSON())
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.trickle(c.ToJSON())
	})
	testpeer.TrickleFrom(log, h.ID(), b.pc, b.stop)
	t.Cleanup(b.close)
	return b
}

// flush trickles the candidates gathered before the description was sent.
func (b *browser) flush() {
	b.mu.Lock()
	b.ready = true
	pending := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, c := range pending {
		b.trickle(c)
	}
}

// trickle sends one candidate. A call that ended before the browser
// finished gathering leaves the handle without a PeerConnection, which
// refuses the late ones.
func (b *browser) trickle(c webrtc.ICECandidateInit) {
	err := b.h.Trickle(c)
	if err != nil && !errors.Is(err, ianua.ErrNoPeerConnection) && !errors.Is(err, ianua.ErrHandleDetached) {
		b.t.Errorf("trickle: %v", err)
	}
}

func (b *browser) close() {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.wg.Wait()
}

// offer makes the browser's offer for an outgoing call.
func (b *browser) offer() *ianua.JSEP {
	b.t.Helper()
	if _, err := b.pc.AddTransceiverFromTrack(b.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		b.t.Fatal(err)
	}
	if b.video != nil {
		tr, err := b.pc.AddTransceiverFromTrack(b.video, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
		if err != nil {
			b.t.Fatal(err)
		}
		go b.readFeedback(tr.Sender())
	}
	o, err := b.pc.CreateOffer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.pc.SetLocalDescription(o); err != nil {
		b.t.Fatal(err)
	}
	return &ianua.JSEP{Type: "offer", SDP: o.SDP}
}

// apply applies the plugin's answer.
func (b *browser) apply(j *ianua.JSEP) {
	b.t.Helper()
	if j == nil || j.Type != "answer" {
		b.t.Fatalf("not an answer: %+v", j)
	}
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: j.SDP}); err != nil {
		b.t.Fatal(err)
	}
}

// answer answers the plugin's offer (an incoming call), sending its track.
func (b *browser) answer(j *ianua.JSEP) *ianua.JSEP {
	b.t.Helper()
	if j == nil || j.Type != "offer" {
		b.t.Fatalf("not an offer: %+v", j)
	}
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: j.SDP}); err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.pc.AddTrack(b.track); err != nil {
		b.t.Fatal(err)
	}
	if b.video != nil {
		s, err := b.pc.AddTrack(b.video)
		if err != nil {
			b.t.Fatal(err)
		}
		go b.readFeedback(s)
	}
	a, err := b.pc.CreateAnswer(nil)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.pc.SetLocalDescription(a); err != nil {
		b.t.Fatal(err)
	}
	return &ianua.JSEP{Type: "answer", SDP: a.SDP}
}

// sendAudio sends 20 ms audio packets until stop or the browser closes.
func (b *browser) sendAudio() {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		size, step := 160, uint32(160)
		if b.codec.ClockRate == 48000 {
			size, step = 60, 960
		}
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 1}, Payload: make([]byte, size)}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			pkt.SequenceNumber = uint16(i)
			pkt.Timestamp = uint32(i) * step
			if err := b.track.WriteRTP(pkt); err != nil {
				return
			}
			b.sent.Add(1)
			select {
			case <-b.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// remoteSSRCs counts the SSRCs the browser received audio from.
func (b *browser) remoteSSRCs() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.ssrcs)
}

func (b *browser) remoteMime() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mime
}

// waitPackets waits until cond holds, polling.
func waitPackets(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testpeer.WaitFor(t, 10*time.Second, what, cond)
}

// answerIncoming registers e's handle as alice, lets c call it, accepts
// with req's extra fields and waits until audio flows both ways. It
// returns the caller's dialog and the browser.
func answerIncoming(t *testing.T, e *env, c *uac, extra map[string]any) (*sipgo.DialogClientSession, *browser) {
	t.Helper()
	reg := newRegistrar(e, "alice", "pw", 60)
	e.register(e.h, e.log, reg, "alice")
	dlg, answered, _ := ring(t, e, c, c.offer())
	ev := e.wait(e.log, e.h, "incomingcall")
	b := newBrowser(t, e.h, e.log, "pcmu")
	body := map[string]any{"request": "accept"}
	for k, v := range extra {
		body[k] = v
	}
	e.must(e.h, body, b.answer(ev.JSEP))
	b.flush()
	e.wait(e.log, e.h, "accepted")
	if err := waitErr(t, answered); err != nil {
		t.Fatalf("caller: %v", err)
	}
	if err := dlg.Ack(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.sendAudio(dlg.InviteResponse.Body())
	b.sendAudio()
	waitPackets(t, "media both ways", func() bool { return c.received.Load() > 10 && b.received.Load() > 10 })
	return dlg, b
}
