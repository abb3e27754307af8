// Command isobench measures what isolation costs: it runs the same image under many
// isolation runtimes and compares start-up, CPU, memory, syscalls, disk, network,
// HTTP serving and density.
package main

import (
	"os"

	"github.com/isobench/isobench/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
