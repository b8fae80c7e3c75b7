// Package testsip runs real SIP peers in tests: SIPp (Debian package
// sip-tester) with a scenario, and baresip, a softphone (StartBaresip),
// both installed by scripts/test.sh. It finds the binaries, picks free
// ports of 127.0.0.1 for them, runs them until the test ends, waits until
// they are ready, and for SIPp checks that every call of its scenario
// passed.
//
// The tests that use it fail, not skip, without SIPp or baresip: a
// skipped test would look green while testing nothing.
package testsip

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// Path returns SIPp's path, and fails the test if it is not installed.
func Path(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp not found: run scripts/test.sh, which installs it (apt-get install -y sip-tester)")
	}
	return path
}

// Scenario returns the absolute path of a file of the test's testdata/
// directory, such as a SIPp scenario: SIPp runs in a directory of its
// own.
func Scenario(t testing.TB, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return path
}
