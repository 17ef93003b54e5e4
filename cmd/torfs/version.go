package main

import (
	"fmt"
	"runtime/debug"
)

// versionLine is what torfs --version prints: the module version and the
// VCS revision the binary was built from, as the Go toolchain recorded
// them in the binary.
func versionLine(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "torfs (no build information: built without module support)"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	line := "torfs " + version
	if rev != "" {
		line += ", revision " + rev
		if at != "" {
			line += " of " + at
		}
		if modified {
			line += " with uncommitted changes"
		}
	}
	return fmt.Sprintf("%s (%s)", line, bi.GoVersion)
}
