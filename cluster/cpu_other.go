//go:build !unix

package cluster

import "time"

// processCPU is not measured here: nodes announce no CPU use.
func processCPU() (time.Duration, bool) { return 0, false }
