// Command isobench measures what isolation costs: it runs the same image under many
// isolation runtimes and compares start-up, CPU, memory, syscalls, disk, network, HTTP
// serving and density.
package main

import (
	"os"

	"github.com/isobench/isobench/internal/cli"
	"github.com/isobench/isobench/internal/probe"
)

func main() {
	// Inside containers the same binary serves as the probe (see internal/probe).
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		os.Exit(probe.Main(os.Args[2:]))
	}
	os.Exit(cli.Main(os.Args[1:]))
}
