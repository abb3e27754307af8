// Package version tells which isobench build is running.
package version

import (
	"runtime"
	"runtime/debug"

	"github.com/isobench/isobench/internal/results"
)

// Version is set at build time with -ldflags "-X github.com/isobench/isobench/internal/version.Version=v1.2.3".
var Version = "dev"

// Info returns the version, the git commit the binary was built from, and the Go version.
func Info() results.VersionInfo {
	v := results.VersionInfo{Version: Version, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && v.Commit != "" {
			v.Commit += "-dirty"
		}
	}
	return v
}
