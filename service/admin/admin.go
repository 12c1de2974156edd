// Package admin serves a service's operational endpoints: /metrics for
// Prometheus, /healthz (the process is alive and serving) and /readyz (the
// service is doing its job: joined its group, able to deliver).
//
// Every service serves them, on its configured address or else on its
// kind's default one (Default), falling back to a free port of the same
// host when the default port is taken, so that several replicas on one
// host never collide. The address actually bound is advertised in the
// service's Kafka client id (ClientID), which the consumer group shows to
// anyone who describes it: that is how auditctl finds every replica, on
// one host as in Kubernetes, with nothing else to run or to share.
//
// Access: /healthz is always open (a liveness probe carries no secret).
// When a token is configured, /metrics answers only with it (Authorization:
// Bearer), and /readyz answers everyone with its status code and a generic
// body, and only a caller with the token with the reason. Without a token,
// the reason is never served, only logged: it may name internal addresses
// or quote a destination's answer.
package admin

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Ready reports whether the service is ready, and why not when it is not.
// The reason may name internal addresses or quote a destination: it is
// served only to a caller with the token.
type Ready func() (ok bool, reason string)

// Options configure the endpoints.
type Options struct {
	// Listen is the configured address; "" means Default.
	Listen string
	// Default is the service kind's default address. When Listen is unset
	// and Default's port is taken (another replica on the host), a free
	// port of the same host is used instead. A configured Listen never
	// falls back: something scrapes it by that address.
	Default string
	// CertFile and KeyFile (PEM) serve the endpoints over TLS.
	CertFile, KeyFile string
	// Token, when set, is the bearer token /metrics and /readyz's reason
	// require.
	Token string
	// Public, when set, turns a not-ready reason into words anyone may
	// read ("destination failing"), or "" for none. It must not pass on
	// any part of the reason that it does not choose itself.
	Public   func(reason string) string
	Registry *prometheus.Registry
	// Ready is given to Handler; Listen leaves it to Serve, since the
	// service that it asks is built after the address is bound.
	Ready Ready
	Log   *slog.Logger
}

// Server is the endpoints, listening.
type Server struct {
	ln  net.Listener
	o   Options
	url string
}

// Listen binds the address. Binding before anything else is built lets
// the service advertise the address it got (ClientID).
func Listen(o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	addr, fallback := o.Listen, false
	if addr == "" {
		addr, fallback = o.Default, true
	}
	if addr == "" {
		return nil, errors.New("admin: no listen address and no default")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && fallback && errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(addr)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err == nil {
			o.Log.Info("admin default port taken (another replica on this host?); using a free one",
				"default", addr, "addr", ln.Addr().String())
		}
	}
	if err != nil {
		return nil, fmt.Errorf("admin listen %s: %w", addr, err)
	}
	scheme := "http"
	if o.CertFile != "" || o.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("admin tls %s, %s: %w", o.CertFile, o.KeyFile, err)
		}
		ln = tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}})
		scheme = "https"
	}
	return &Server{ln: ln, o: o, url: scheme + "://" + ln.Addr().String()}, nil
}

// Close releases the address of a server that will not Serve.
func (s *Server) Close() error { return s.ln.Close() }

// URL is the base URL of the endpoints as bound, e.g.
// http://127.0.0.1:9465 (the host as configured: 0.0.0.0 means every
// interface, which a reader of the URL replaces with the host it knows).
func (s *Server) URL() string { return s.url }

// Serve registers auditstream_ready, asking ready, and serves the
// endpoints until ctx ends.
func (s *Server) Serve(ctx context.Context, ready Ready) error {
	o := s.o
	o.Ready = ready
	srv := &http.Server{Handler: Handler(o), ReadHeaderTimeout: 5 * time.Second}
	// Tests and operators read addr from this line.
	o.Log.Info("admin endpoints", "addr", s.ln.Addr().String(), "url", s.url)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if err := srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin serve: %w", err)
	}
	return nil
}

// Handler returns the endpoints' handler and registers auditstream_ready
// in o.Registry.
func Handler(o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	promauto.With(o.Registry).NewGaugeFunc(prometheus.GaugeOpts{
		Name: "auditstream_ready",
		Help: "1 when the service is ready (its /readyz answers 200), 0 when not.",
	}, func() float64 {
		if ok, _ := o.Ready(); ok {
			return 1
		}
		return 0
	})
	authorized := func(r *http.Request) bool {
		if o.Token == "" {
			return false
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && subtle.ConstantTimeCompare([]byte(got), []byte(o.Token)) == 1
	}
	metrics := promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry})
	var logged reasonLog
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if o.Token != "" && !authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="auditstream"`)
			http.Error(w, "unauthorized: /metrics needs the admin token", http.StatusUnauthorized)
			return
		}
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, reason := o.Ready()
		if ok {
			fmt.Fprintln(w, "ready")
			return
		}
		logged.log(o.Log, reason)
		// The status code is for everyone (probes carry no token); the
		// reason only for a caller with the token.
		public := "not ready"
		if o.Public != nil {
			if p := o.Public(reason); p != "" {
				public += ": " + p
			}
		}
		body := public + " (details in the service's log)"
		switch {
		case authorized(r):
			body = "not ready: " + reason
		case o.Token != "":
			body = public + " (details with the admin token, and in the service's log)"
		}
		http.Error(w, body, http.StatusServiceUnavailable)
	})
	return mux
}

// reasonLog logs a not-ready reason once per change, not once per probe.
type reasonLog struct {
	mu   sync.Mutex
	last string
}

func (l *reasonLog) log(log *slog.Logger, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if reason == l.last {
		return
	}
	l.last = reason
	log.Warn("not ready", "reason", reason)
}

// clientIDMark separates a client id from the admin URL it advertises.
const clientIDMark = ";admin="

// ClientID is the Kafka client id that advertises the admin URL: the
// configured id, then ";admin=" and the URL. Consumer groups show each
// member's client id (DescribeGroups), so whoever can describe the group
// finds every replica's endpoints (AdminURL). Kafka client-id quotas match
// the whole id: set them on each replica's id, or use user quotas.
func ClientID(base, url string) string { return base + clientIDMark + url }

// AdminURL is the admin URL a client id advertises (ClientID), or "".
// host is where the broker saw the member connect from (the group's
// ClientHost, e.g. "/10.0.0.5"): it replaces an unspecified host
// (0.0.0.0 or ::), which is no address to connect to.
func AdminURL(clientID, host string) string {
	_, u, ok := strings.Cut(clientID, clientIDMark)
	if !ok {
		return ""
	}
	scheme, hp, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	h, port, err := net.SplitHostPort(hp)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		h = strings.TrimPrefix(host, "/")
		if h == "" {
			h = "127.0.0.1"
		}
	}
	return scheme + "://" + net.JoinHostPort(h, port)
}
