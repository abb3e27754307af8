// Command cmd is the guest agent alone, for tests that cannot use the isobench binary
// (which runs the agent when started as PID 1 or as `isobench agent`).
package main

import (
	"os"

	"github.com/isobench/isobench/internal/agent"
)

func main() { os.Exit(agent.Main()) }
