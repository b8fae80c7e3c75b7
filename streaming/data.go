package streaming

import (
	"net"
	"time"
)

// readData relays each datagram on a data port to every viewer's data
// channel until the socket closes.
func (mp *Mountpoint) readData(m *mpMedia, conn *net.UDPConn) {
	defer mp.wg.Done()
	buf := make([]byte, 65536)
	text := m.params.DataType != "binary"
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		msg := append([]byte(nil), buf[:n]...)
		mp.mu.Lock()
		m.lastData = time.Now()
		if m.params.BufferMsg {
			m.lastMsg = msg
		}
		vs := mp.viewerList()
		mp.mu.Unlock()
		for _, v := range vs {
			// A viewer whose channel is not open yet gets the buffered
			// message, if any, when it opens (DataReady).
			_ = v.h.SendData("", msg, text)
		}
	}
}

// viewerList returns the viewers; mp.mu is held.
func (mp *Mountpoint) viewerList() []*viewer {
	vs := make([]*viewer, 0, len(mp.viewers))
	for v := range mp.viewers {
		vs = append(vs, v)
	}
	return vs
}

// hasData says whether the mountpoint relays data.
func (mp *Mountpoint) hasData() bool {
	for _, m := range mp.media {
		if m.isData() {
			return true
		}
	}
	return false
}

// bufferedData returns the last message of each buffered data media.
func (mp *Mountpoint) bufferedData() (msgs [][]byte, text []bool) {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	for _, m := range mp.media {
		if m.isData() && m.lastMsg != nil {
			msgs = append(msgs, m.lastMsg)
			text = append(text, m.params.DataType != "binary")
		}
	}
	return msgs, text
}
