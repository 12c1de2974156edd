package ddintake

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server.
type Options struct {
	// APIKeys are the accepted values of the DD-API-KEY header.
	APIKeys []string
	// Limits are the per-request limits; zero fields take the documented values.
	Limits Limits
	// Now is the server's clock: receive times, log ages and fault windows are all
	// read from it. Nil means time.Now. Latency faults still wait in real time.
	Now func() time.Time
	// Logger receives the server's own logs. Nil means none.
	Logger *slog.Logger
}

// Server is a Datadog Logs intake test server. It is an http.Handler, safe for
// concurrent use.
type Server struct {
	limits Limits
	now    func() time.Time
	log    *slog.Logger
	mux    *http.ServeMux

	seq atomic.Uint64 // the last request sequence number given out

	mu     sync.Mutex
	keys   map[string]bool
	faults schedule
	logs   logStore
	stats  statsRecorder
}

// New returns a Server configured by opts.
func New(opts Options) *Server {
	s := &Server{
		limits: opts.Limits.withDefaults(),
		now:    opts.Now,
		log:    opts.Logger,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.SetAPIKeys(opts.APIKeys...)
	s.mux = s.routes()
	return s
}

// ServeHTTP serves the intake, the /_intake/ controls and /healthz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// SetAPIKeys replaces the accepted API keys. With none, every key gets 403.
func (s *Server) SetAPIKeys(keys ...string) {
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	s.mu.Lock()
	s.keys = set
	s.mu.Unlock()
	s.log.Info("api keys replaced", "count", len(set))
}

// Inject schedules a fault and returns its ID. The fault's After and For are
// measured from now, by the server's clock.
func (s *Server) Inject(f Fault) (int, error) {
	if err := f.validate(); err != nil {
		return 0, fmt.Errorf("inject fault: %w", err)
	}
	s.mu.Lock()
	id := s.faults.add(f, s.now())
	s.mu.Unlock()
	s.log.Info("fault injected", "id", id, "kind", f.Kind, "status", f.Status,
		"count", f.Count, "probability", f.Probability, "after", f.After, "for", f.For)
	return id, nil
}

// RemoveFault drops the fault with the given ID and reports whether there was one.
func (s *Server) RemoveFault(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.remove(id)
}

// ClearFaults drops every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.clear()
}

// Faults returns every injected fault with its state and hits.
func (s *Server) Faults() []FaultState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults.list(s.now())
}

// Logs returns a copy of every accepted log, in the order they were accepted.
func (s *Server) Logs() []Log {
	logs, _ := s.LogsSince(0, 0)
	return logs
}

// LogsSince returns a copy of up to limit accepted logs with an ID above id, and
// whether more remain. A limit of zero or less means no limit.
func (s *Server) LogsSince(id uint64, limit int) ([]Log, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.since(id, limit)
}

// ClearLogs drops every accepted log. IDs keep counting from where they were.
func (s *Server) ClearLogs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs.clear()
}

// Stats returns the counts of what the intake saw.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.snapshot()
}

// ClearStats zeroes the counts.
func (s *Server) ClearStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.clear()
}

// Reset drops the logs, the stats and the faults. The API keys stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs.clear()
	s.stats.clear()
	s.faults.clear()
}
