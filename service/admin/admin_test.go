package admin

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// secretReason is what a sink's Ready may say: an internal URL and a
// destination's answer, which no caller without the token may read.
const secretReason = "partition 0: put object a/b: https://minio.internal:9000: 403 AccessDenied key=AKIAXXXX"

func get(t *testing.T, hc *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	promauto.With(reg).NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "things"}).Add(3)
	ready, reason := false, "not joined"
	srv := httptest.NewServer(Handler(Options{Registry: reg, Ready: func() (bool, string) { return ready, reason }}))
	defer srv.Close()
	hc := srv.Client()

	if code, _ := get(t, hc, srv.URL+"/healthz", ""); code != 200 {
		t.Errorf("/healthz: got %d, want 200", code)
	}
	if code, _ := get(t, hc, srv.URL+"/readyz", ""); code != 503 {
		t.Errorf("/readyz not ready: got %d, want 503", code)
	}
	if code, body := get(t, hc, srv.URL+"/metrics", ""); code != 200 || !strings.Contains(body, "test_things_total 3") || !strings.Contains(body, "auditstream_ready 0") {
		t.Errorf("/metrics: got %d, want the registry's counter and auditstream_ready 0 in %q", code, body)
	}
	ready = true
	if code, _ := get(t, hc, srv.URL+"/readyz", ""); code != 200 {
		t.Errorf("/readyz ready: got %d, want 200", code)
	}
	if _, body := get(t, hc, srv.URL+"/metrics", ""); !strings.Contains(body, "auditstream_ready 1") {
		t.Errorf("/metrics when ready: want auditstream_ready 1 in %q", body)
	}
}

// TestAccess: who reads what, with and without a token configured.
func TestAccess(t *testing.T) {
	const token = "s3cr3t-admin-token"
	tests := []struct {
		name       string
		configured string // the token the service has
		sent       string // the token the caller sends
		path       string
		wantCode   int
		wantReason bool // the body carries the detailed reason
	}{
		{"healthz open with a token configured", token, "", "/healthz", 200, false},
		{"metrics refused without the token", token, "", "/metrics", 401, false},
		{"metrics refused with a wrong token", token, "wrong", "/metrics", 401, false},
		{"metrics with the token", token, token, "/metrics", 200, false},
		{"metrics open without a configured token", "", "", "/metrics", 200, false},
		{"readyz status without the token, no reason", token, "", "/readyz", 503, false},
		{"readyz wrong token, no reason", token, "wrong", "/readyz", 503, false},
		{"readyz reason with the token", token, token, "/readyz", 503, true},
		{"readyz no token configured: never the reason", "", "", "/readyz", 503, false},
		{"readyz no token configured, one sent: never the reason", "", "anything", "/readyz", 503, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			srv := httptest.NewServer(Handler(Options{
				Registry: prometheus.NewRegistry(),
				Ready:    func() (bool, string) { return false, secretReason },
				Token:    tt.configured,
				Log:      slog.New(slog.NewTextHandler(&logs, nil)),
			}))
			defer srv.Close()
			code, body := get(t, srv.Client(), srv.URL+tt.path, tt.sent)
			if code != tt.wantCode {
				t.Errorf("got %d, want %d (%q)", code, tt.wantCode, body)
			}
			if got := strings.Contains(body, secretReason); got != tt.wantReason {
				t.Errorf("body %q: reason present %v, want %v", body, got, tt.wantReason)
			}
			for _, leak := range []string{"minio.internal", "AKIA", "403"} {
				if !tt.wantReason && strings.Contains(body, leak) {
					t.Errorf("body %q reveals %q", body, leak)
				}
			}
			if tt.path == "/readyz" && !strings.Contains(logs.String(), "minio.internal") {
				t.Errorf("the reason is not logged: %q", logs.String())
			}
		})
	}
}

// TestPublicReason: a caller without the token reads the words Public
// chooses, never the reason.
func TestPublicReason(t *testing.T) {
	srv := httptest.NewServer(Handler(Options{Registry: prometheus.NewRegistry(), Token: "tok",
		Ready:  func() (bool, string) { return false, secretReason },
		Public: func(string) string { return "destination failing" }}))
	defer srv.Close()
	code, body := get(t, srv.Client(), srv.URL+"/readyz", "")
	if code != 503 || !strings.HasPrefix(body, "not ready: destination failing") || strings.Contains(body, "minio") {
		t.Errorf("got %d %q, want 503 with the public words only", code, body)
	}
	if _, body := get(t, srv.Client(), srv.URL+"/readyz", "tok"); !strings.Contains(body, secretReason) {
		t.Errorf("with the token: got %q, want the reason", body)
	}
}

// TestReasonLoggedOnce: probes every few seconds must not log a line each.
func TestReasonLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	reason := "a"
	srv := httptest.NewServer(Handler(Options{Registry: prometheus.NewRegistry(),
		Ready: func() (bool, string) { return false, reason }, Log: slog.New(slog.NewTextHandler(&logs, nil))}))
	defer srv.Close()
	for range 3 {
		get(t, srv.Client(), srv.URL+"/readyz", "")
	}
	reason = "b"
	get(t, srv.Client(), srv.URL+"/readyz", "")
	if got, want := strings.Count(logs.String(), "not ready"), 2; got != want {
		t.Errorf("got %d log lines, want %d: %q", got, want, logs.String())
	}
}

func serve(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s, err := Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, func() (bool, string) { return true, "" }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

// freePort returns an address nobody listens on (now).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestListenDefaults(t *testing.T) {
	def := freePort(t)
	// No listen configured: the default address.
	first := serve(t, Options{Default: def})
	if got, want := first.URL(), "http://"+def; got != want {
		t.Errorf("unset listen: got %s, want the default %s", got, want)
	}
	// A second replica on the host: the default is taken, a free port of
	// the same host instead.
	second := serve(t, Options{Default: def})
	if second.URL() == first.URL() || !strings.HasPrefix(second.URL(), "http://127.0.0.1:") {
		t.Errorf("second replica: got %s, want another port of 127.0.0.1 than %s", second.URL(), first.URL())
	}
	for _, s := range []*Server{first, second} {
		if code, _ := get(t, http.DefaultClient, s.URL()+"/healthz", ""); code != 200 {
			t.Errorf("%s/healthz: got %d, want 200", s.URL(), code)
		}
	}
	// A configured address never falls back: something scrapes it there.
	if _, err := Listen(Options{Listen: def, Default: "127.0.0.1:0"}); err == nil {
		t.Errorf("configured listen %s taken: got no error, want one", def)
	}
	// No address at all is a mistake of the caller, not a silent nothing.
	if _, err := Listen(Options{}); err == nil {
		t.Error("no listen and no default: got no error, want one")
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	s := serve(t, Options{Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, Token: "tok"})
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("got %s, want an https URL", s.URL())
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if code, _ := get(t, hc, s.URL()+"/metrics", "tok"); code != 200 {
		t.Errorf("/metrics over TLS with the token: got %d, want 200", code)
	}
	if code, _ := get(t, hc, s.URL()+"/metrics", ""); code != 401 {
		t.Errorf("/metrics over TLS without the token: got %d, want 401", code)
	}
	plain := strings.Replace(s.URL(), "https://", "http://", 1)
	if resp, err := http.Get(plain + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP to the TLS endpoints: got 200, want a failure")
		}
		resp.Body.Close()
	}
	if _, err := Listen(Options{Listen: "127.0.0.1:0", CertFile: filepath.Join(dir, "missing.pem"), KeyFile: keyFile}); err == nil {
		t.Error("missing cert file: got no error, want one")
	}
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "admin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

func TestClientIDAdvertisesURL(t *testing.T) {
	tests := []struct {
		clientID, host, want string
	}{
		{ClientID("auditstream", "http://127.0.0.1:9465"), "/127.0.0.1", "http://127.0.0.1:9465"},
		{ClientID("auditstream", "https://0.0.0.0:9464"), "/10.1.2.3", "https://10.1.2.3:9464"},
		{ClientID("auditstream", "http://[::]:9464"), "/10.1.2.3", "http://10.1.2.3:9464"},
		{ClientID("auditstream", "http://10.0.0.7:9464"), "/10.1.2.3", "http://10.0.0.7:9464"},
		{"auditstream", "/127.0.0.1", ""},
		{"auditstream;admin=garbage", "/127.0.0.1", ""},
	}
	for _, tt := range tests {
		if got := AdminURL(tt.clientID, tt.host); got != tt.want {
			t.Errorf("AdminURL(%q, %q): got %q, want %q", tt.clientID, tt.host, got, tt.want)
		}
	}
}
