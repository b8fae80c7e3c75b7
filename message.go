package ianua

import "encoding/json"

// Message is what the host relays from its client to a handle's plugin.
type Message struct {
	// Body is the plugin request, in the plugin's own JSON language.
	Body json.RawMessage
	// JSEP is an optional offer or answer.
	JSEP *JSEP
	// Transaction is an opaque id the host may use to match the
	// asynchronous events of this message; the core copies it into them.
	Transaction string
}

// Reply is a plugin's answer to a Message: either a synchronous result
// (Janus: success with plugindata) or an acknowledgement whose outcome
// comes later as an EventPlugin (Janus: ack, then event).
type Reply struct {
	Data  json.RawMessage
	Async bool
}
