package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const secret = "s3cr3t-key"

func TestRunServesUntilCanceled(t *testing.T) {
	addrFile := filepath.Join(t.TempDir(), "ddintake.addr")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	getenv := func(name string) string {
		if name == "DDINTAKE_KEYS" {
			return "other, " + secret
		}
		return ""
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--api-key-env", "DDINTAKE_KEYS", "--addr-file", addrFile}, getenv, io.Discard, logger)
	}()

	addr := waitForFile(t, addrFile, done)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v2/logs", strings.NewReader(`[{"message":"hello"}]`))
	req.Header.Set("DD-API-KEY", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Errorf("post: got %d, want 202", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: got %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run: still serving 10s after cancel")
	}
	if _, err := os.Stat(addrFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("address file: got %v, want it removed on shutdown", err)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("logs: got the API key in %q", logs.String())
	}
}

// waitForFile waits for run to write the address file and returns its content.
func waitForFile(t *testing.T, path string, done <-chan error) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(data))
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before listening: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("address file %s: not written within 10s", path)
	return ""
}

func TestLoadAPIKeys(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys")
	os.WriteFile(keyFile, []byte("# accepted keys\nfile-key-1\n\n  file-key-2  \n"), 0o600)
	commentsOnly := filepath.Join(dir, "empty")
	os.WriteFile(commentsOnly, []byte("# "+secret+" was revoked\n"), 0o600)
	env := map[string]string{"KEYS": "env-key-1,env-key-2", "BLANK": " , "}

	tests := []struct {
		name    string
		envName string
		path    string
		want    []string
		wantErr string
	}{
		{name: "env", envName: "KEYS", want: []string{"env-key-1", "env-key-2"}},
		{name: "file", path: keyFile, want: []string{"file-key-1", "file-key-2"}},
		{name: "both", envName: "KEYS", path: keyFile, want: []string{"env-key-1", "env-key-2", "file-key-1", "file-key-2"}},
		{name: "neither", wantErr: "no source"},
		{name: "unset env", envName: "MISSING", wantErr: "MISSING is unset or empty"},
		{name: "blank env", envName: "BLANK", wantErr: "BLANK is unset or empty"},
		{name: "missing file", path: filepath.Join(dir, "nope"), wantErr: "read api key file"},
		{name: "file without keys", path: commentsOnly, wantErr: "holds no key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadAPIKeys(tt.envName, tt.path, func(n string) string { return env[n] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error: got %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error: got the key in %q", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("keys: got %q, %v, want %q", got, err, tt.want)
			}
		})
	}
}

func TestListenIsLoopbackOnly(t *testing.T) {
	tests := []struct {
		addr        string
		allowRemote bool
		wantErr     bool
	}{
		{"127.0.0.1:0", false, false},
		{"localhost:0", false, false},
		{"0.0.0.0:0", false, true},
		{":0", false, true},
		{"0.0.0.0:0", true, false},
		{"127.0.0.1", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ln, err := listen(tt.addr, tt.allowRemote)
			if ln != nil {
				ln.Close()
			}
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("listen(%q, %v): got error %v, want error %v", tt.addr, tt.allowRemote, err, tt.wantErr)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	var usage bytes.Buffer
	if _, err := parseFlags([]string{"--help"}, &usage); !errors.Is(err, flag.ErrHelp) || !strings.Contains(usage.String(), "-api-key-env") {
		t.Errorf("--help: got %v and usage %q, want flag.ErrHelp and the flags", err, usage.String())
	}
	if _, err := parseFlags([]string{secret}, io.Discard); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("positional argument: got %v, want an error that does not echo it", err)
	}
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil || cfg.listen != "127.0.0.1:0" {
		t.Errorf("defaults: got %+v, %v, want listen 127.0.0.1:0", cfg, err)
	}
}
