//go:build !unix

package route

import "testing"

func reportCPU(*testing.B) {}
