package sipgw

import (
	"errors"
	"testing"

	"github.com/ianua/ianua"
)

func codeOf(err error) int {
	var pe *ianua.PluginError
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err == nil {
		return 0
	}
	return -1
}

func TestParseRequest(t *testing.T) {
	testCases := []struct {
		body string
		code int
	}{
		{`{"request":"register","username":"sip:a@b"}`, 0},
		{`{"request":"CALL"}`, 0},
		{``, ErrorNoMessage},
		{`null`, ErrorNoMessage},
		{`[1]`, ErrorInvalidJSON},
		{`{"request":`, ErrorInvalidJSON},
		{`{}`, ErrorMissingElement},
		{`{"request":5}`, ErrorInvalidElement},
		{`{"request":"register","headers":{"X-A":5}}`, ErrorInvalidElement},
		{`{"request":"decline","code":"busy"}`, ErrorInvalidElement},
	}
	for _, tc := range testCases {
		_, err := ParseRequest([]byte(tc.body))
		if got := codeOf(err); got != tc.code {
			t.Errorf("%s: code %d (%v), want %d", tc.body, got, err, tc.code)
		}
	}
}

func TestHeaderInjection(t *testing.T) {
	testCases := []struct {
		name    string
		headers map[string]string
		code    int
	}{
		{"fine", map[string]string{"X-Account": "42", "Subject": "hello"}, 0},
		{"CRLF in value", map[string]string{"X-A": "1\r\nVia: SIP/2.0/UDP evil"}, ErrorInvalidElement},
		{"LF in value", map[string]string{"X-A": "1\nX-B: 2"}, ErrorInvalidElement},
		{"CR in name", map[string]string{"X-A\r": "1"}, ErrorInvalidElement},
		{"colon in name", map[string]string{"X-A: 1\r\nX-B": "1"}, ErrorInvalidElement},
		{"space in name", map[string]string{"X A": "1"}, ErrorInvalidElement},
		{"reserved", map[string]string{"call-id": "x"}, ErrorInvalidElement},
		{"empty name", map[string]string{"": "x"}, ErrorInvalidElement},
	}
	for _, tc := range testCases {
		_, err := customHeaders(tc.headers)
		if got := codeOf(err); got != tc.code {
			t.Errorf("%s: code %d (%v), want %d", tc.name, got, err, tc.code)
		}
		if tc.code != 0 && tc.name != "reserved" && !errors.Is(err, ErrHeaderInjection) {
			t.Errorf("%s: %v is not ErrHeaderInjection", tc.name, err)
		}
	}

	uris := []struct {
		uri  string
		code int
	}{
		{"sip:bob@example.com", 0},
		{"sip:bob@127.0.0.1:5070", 0},
		{"sip:bob@example.com\r\nX-Evil: 1", ErrorInvalidAddress},
		{"sip:bob@example.com\n", ErrorInvalidAddress},
		{"sip:bob @example.com", ErrorInvalidAddress},
		{"sip:bob@exa<mple.com", ErrorInvalidAddress},
		{"tel:+123", ErrorInvalidAddress},
		{"sip:example.com", ErrorInvalidAddress}, // no user
		{"bob", ErrorInvalidAddress},
		{"", ErrorMissingElement},
	}
	for _, tc := range uris {
		_, err := parseUserURI("uri", tc.uri)
		if got := codeOf(err); got != tc.code {
			t.Errorf("%q: code %d (%v), want %d", tc.uri, got, err, tc.code)
		}
	}
	if quoteDisplayName(`A "B" \C`) != `A \"B\" \\C` {
		t.Errorf("quoteDisplayName: %s", quoteDisplayName(`A "B" \C`))
	}
	for _, id := range []string{"abc@host", "x\r\ny", "a b", ""} {
		if isCallID(id) != (id == "abc@host") {
			t.Errorf("isCallID(%q)", id)
		}
	}
}
