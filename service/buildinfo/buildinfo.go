// Package buildinfo says which build a binary is, for every command's
// --version.
package buildinfo

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// Version is the binary's module version and VCS revision, as the Go
// toolchain stamped them. A container image built from a source tree
// without its git history has neither; its build sets AUDITSTREAM_VERSION
// (see the Dockerfile), which is used then.
func Version() string {
	v := "(unknown)"
	bi, ok := debug.ReadBuildInfo()
	if ok {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v += " " + s.Value
			}
		}
	}
	if env := os.Getenv("AUDITSTREAM_VERSION"); env != "" && (!ok || bi.Main.Version == "(devel)") {
		v = env
	}
	return v
}

// Asked answers a --version request: when args (a command's arguments,
// without its name) are just "--version", "-version" or "version", it
// writes "<name> <version>" to w and reports true, and the command ends
// there with exit 0.
func Asked(name string, args []string, w io.Writer) bool {
	if len(args) != 1 || (args[0] != "--version" && args[0] != "-version" && args[0] != "version") {
		return false
	}
	fmt.Fprintln(w, name, Version())
	return true
}
