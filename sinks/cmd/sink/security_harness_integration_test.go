//go:build integration

package main

import (
	"io"
	"sync"
)

// syncWriter serializes writes to w, for a process's stderr read while it
// runs.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
