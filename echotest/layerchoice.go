package echotest

// layerChoice is what the client asked of layered streams (Janus's
// defaults until it asks: 2 for each): the simulcast substream and
// temporal layer, the SVC spatial and temporal layer.
type layerChoice struct {
	substream, temporal, spatial, svcTemporal int
}

// layerSettings returns the client's choice.
func (e *Echo) layerSettings() layerChoice {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.layers
}
