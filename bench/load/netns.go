package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// netnsEnv marks the copy of the tool that runs inside the private network
// namespace.
const netnsEnv = "IANUA_BENCH_NETNS"

func inNetns() bool { return os.Getenv(netnsEnv) == "1" }

// runInNetns runs this program again with args in a new network namespace
// (unshare(1), root needed) and returns its exit code. Everything of the
// run — servers, floor, clients — is then in a namespace that has only
// its own loopback and a veth pair, and nothing can reach it from outside.
func runInNetns(args []string) (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("-janus needs root: Janus's candidates need a non-loopback interface, which the tool makes in a private network namespace (unshare -n)")
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return 0, errors.New("-janus needs unshare (util-linux) and ip (iproute2)")
	}
	cmd := exec.Command("unshare", append([]string{"--net", "--", self}, args...)...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

// setupNetns brings up loopback in the new namespace and a veth pair whose
// first end carries janusIP.
func setupNetns() error {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", janusIface, "type", "veth", "peer", "name", janusIface + "p"},
		{"addr", "add", janusIP + "/32", "dev", janusIface},
		{"link", "set", janusIface, "up"},
		{"link", "set", janusIface + "p", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}
