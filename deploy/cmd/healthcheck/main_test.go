package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		wantErr bool
	}{
		{"ok", http.StatusOK, false},
		{"not ready", http.StatusServiceUnavailable, true},
		{"not found", http.StatusNotFound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			err := check(context.Background(), srv.Client(), srv.URL)
			if got := err != nil; got != tc.wantErr {
				t.Fatalf("check(%d): got err %v, want error %v", tc.status, err, tc.wantErr)
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		if err := check(context.Background(), http.DefaultClient, url); err == nil {
			t.Fatalf("check(closed server): got nil error, want one")
		}
	})
}
