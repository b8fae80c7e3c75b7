package echotest

import (
	"errors"

	"github.com/ianua/ianua"
)

func codeOf(err error) int {
	var pe *ianua.PluginError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return -1
}
