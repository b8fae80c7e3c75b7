package janusapi

import (
	"slices"
	"sort"
	"sync"
)

// tokenStore holds the stored tokens of token authentication (Janus
// token_auth, stored mode) and the plugins each may attach to. The Admin
// API adds, changes and removes them at run time (add_token, allow_token,
// disallow_token, remove_token); a token allowed no plugin is valid for
// the API but can attach to nothing, as in Janus.
type tokenStore struct {
	enabled bool // Params.Tokens was set: requests need a token (or the API secret)

	mu     sync.Mutex
	tokens map[string][]string // token -> allowed plugin names, sorted
}

// newTokenStore copies initial; a token given no plugins may attach to
// every one of all, as with Janus's add_token without "plugins".
func newTokenStore(initial map[string][]string, all []string) *tokenStore {
	t := &tokenStore{enabled: initial != nil, tokens: make(map[string][]string, len(initial))}
	for token, plugins := range initial {
		if len(plugins) == 0 {
			plugins = all
		}
		t.tokens[token] = sortedSet(plugins)
	}
	return t
}

// valid says whether token is a stored token.
func (t *tokenStore) valid(token string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.tokens[token]
	return ok
}

// allows says whether token may attach to the plugin a client named
// (name) or the one it resolves to (resolved).
func (t *tokenStore) allows(token, name, resolved string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	allowed, ok := t.tokens[token]
	return ok && (slices.Contains(allowed, name) || slices.Contains(allowed, resolved))
}

// add stores token (again) with plugins, and returns what it may attach
// to.
func (t *tokenStore) add(token string, plugins []string) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens[token] = sortedSet(append(t.tokens[token], plugins...))
	return slices.Clone(t.tokens[token])
}

// allow gives (on) or takes away (!on) plugins from a stored token, and
// returns what it may attach to; ok is false for an unknown token.
func (t *tokenStore) allow(token string, plugins []string, on bool) (allowed []string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.tokens[token]
	if !ok {
		return nil, false
	}
	if on {
		cur = sortedSet(append(cur, plugins...))
	} else {
		cur = slices.DeleteFunc(cur, func(p string) bool { return slices.Contains(plugins, p) })
	}
	t.tokens[token] = cur
	return slices.Clone(cur), true
}

// remove forgets token; false if it was not stored.
func (t *tokenStore) remove(token string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.tokens[token]
	delete(t.tokens, token)
	return ok
}

// list returns the tokens that may attach to at least one plugin, as
// Janus's list_tokens does, sorted.
func (t *tokenStore) list() []map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []map[string]any{}
	for token, plugins := range t.tokens {
		if len(plugins) > 0 {
			out = append(out, map[string]any{"token": token, "allowed_plugins": slices.Clone(plugins)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["token"].(string) < out[j]["token"].(string) })
	return out
}

// sortedSet returns the names sorted, without repeats, in a new slice.
func sortedSet(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}
