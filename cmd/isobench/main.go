// Command isobench measures what isolation costs: it runs the same image under many
// isolation runtimes and compares start-up, CPU, memory, syscalls, disk, network, HTTP
// serving and density.
package main

import (
	"os"

	"github.com/isobench/isobench/internal/agent"
	"github.com/isobench/isobench/internal/cli"
	"github.com/isobench/isobench/internal/probe"
)

func main() {
	// Inside containers the same binary serves as the probe (see internal/probe), and as
	// /init of a microVM it is the guest agent (see internal/agent).
	if len(os.Args) > 1 && os.Args[1] == probe.Command {
		os.Exit(probe.Main(os.Args[2:]))
	}
	if os.Getpid() == 1 || (len(os.Args) > 1 && os.Args[1] == "agent") {
		os.Exit(agent.Main())
	}
	os.Exit(cli.Main(os.Args[1:]))
}
