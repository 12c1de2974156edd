package ddintake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// LogsPage is the body of GET /_intake/logs.
type LogsPage struct {
	// Logs are the accepted logs with an ID above the since parameter.
	Logs []Log `json:"logs"`
	// Next is the since to ask for the following page: the last ID returned, or
	// the since asked for when there was nothing new.
	Next uint64 `json:"next"`
	// More reports that the limit parameter cut the page short.
	More bool `json:"more"`
}

// FaultsPage is the body of GET /_intake/faults.
type FaultsPage struct {
	Faults []FaultState `json:"faults"`
}

// InjectedFaults is the body of POST /_intake/faults: the IDs of the new faults.
type InjectedFaults struct {
	IDs []int `json:"ids"`
}

// APIKeys is the body of PUT /_intake/api-keys.
type APIKeys struct {
	Keys []string `json:"keys"`
}

// maxControlBody bounds the bodies the control endpoints read.
const maxControlBody = 1 << 20

// handleHealth answers GET /healthz.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleGetLogs answers GET /_intake/logs?since=N&limit=M.
func (s *Server) handleGetLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since uint64
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("since %q: want a log ID", v))
			return
		}
		since = n
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want a count", v))
			return
		}
		limit = n
	}
	logs, more := s.LogsSince(since, limit)
	page := LogsPage{Logs: logs, Next: since, More: more}
	if len(logs) > 0 {
		page.Next = logs[len(logs)-1].ID
	}
	writeJSON(w, http.StatusOK, page)
}

// handleClearLogs answers DELETE /_intake/logs.
func (s *Server) handleClearLogs(w http.ResponseWriter, _ *http.Request) {
	s.ClearLogs()
	w.WriteHeader(http.StatusNoContent)
}

// handleGetStats answers GET /_intake/stats.
func (s *Server) handleGetStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

// handleClearStats answers DELETE /_intake/stats.
func (s *Server) handleClearStats(w http.ResponseWriter, _ *http.Request) {
	s.ClearStats()
	w.WriteHeader(http.StatusNoContent)
}

// handleGetFaults answers GET /_intake/faults.
func (s *Server) handleGetFaults(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, FaultsPage{Faults: s.Faults()})
}

// handleInjectFaults answers POST /_intake/faults, whose body is one fault or an
// array of faults. Either every fault is injected or, if one is invalid, none.
func (s *Server) handleInjectFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("read body: %v", err))
		return
	}
	var faults []Fault
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &faults)
	} else {
		var f Fault
		err = json.Unmarshal(trimmed, &f)
		faults = []Fault{f}
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	for i, f := range faults {
		if err := f.validate(); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("fault %d: %v", i, err))
			return
		}
	}
	ids := make([]int, 0, len(faults))
	for _, f := range faults {
		id, err := s.Inject(f)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		ids = append(ids, id)
	}
	writeJSON(w, http.StatusCreated, InjectedFaults{IDs: ids})
}

// handleClearFaults answers DELETE /_intake/faults.
func (s *Server) handleClearFaults(w http.ResponseWriter, _ *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

// handleRemoveFault answers DELETE /_intake/faults/{id}.
func (s *Server) handleRemoveFault(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("fault id %q: want a number", r.PathValue("id")))
		return
	}
	if !s.RemoveFault(id) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no fault %d", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleSetAPIKeys answers PUT /_intake/api-keys, whose body is {"keys":[...]}.
func (s *Server) handleSetAPIKeys(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	var keys APIKeys
	if err := dec.Decode(&keys); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("decode api keys: %v", err))
		return
	}
	s.SetAPIKeys(keys.Keys...)
	w.WriteHeader(http.StatusNoContent)
}

// handleReset answers POST /_intake/reset.
func (s *Server) handleReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}
