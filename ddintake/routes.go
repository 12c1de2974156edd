package ddintake

import (
	"fmt"
	"net/http"
	"strings"
)

// route is one method and path the server answers.
type route struct {
	method, path string
	handle       http.HandlerFunc
}

// routes returns the server's mux. The intake answers 405 and 404 with the errors
// body a Datadog client expects; so do the controls, for a method they lack.
func (s *Server) routes() *http.ServeMux {
	table := []route{
		{http.MethodGet, "/healthz", s.handleHealth},
		{http.MethodGet, "/_intake/logs", s.handleGetLogs},
		{http.MethodDelete, "/_intake/logs", s.handleClearLogs},
		{http.MethodGet, "/_intake/stats", s.handleGetStats},
		{http.MethodDelete, "/_intake/stats", s.handleClearStats},
		{http.MethodGet, "/_intake/faults", s.handleGetFaults},
		{http.MethodPost, "/_intake/faults", s.handleInjectFaults},
		{http.MethodDelete, "/_intake/faults", s.handleClearFaults},
		{http.MethodDelete, "/_intake/faults/{id}", s.handleRemoveFault},
		{http.MethodPut, "/_intake/api-keys", s.handleSetAPIKeys},
		{http.MethodPost, "/_intake/reset", s.handleReset},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v2/logs", s.handleIntake)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such path %s", r.URL.Path))
	})
	allowed := make(map[string][]string)
	for _, rt := range table {
		mux.HandleFunc(rt.method+" "+rt.path, rt.handle)
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// A pattern with a method is more specific than the same path without one, so
	// these only see the methods the table lacks.
	for path, methods := range allowed {
		allow := strings.Join(methods, ", ")
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed; use %s", r.Method, allow))
		})
	}
	return mux
}
