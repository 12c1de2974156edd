package record

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// ErrInvalid is matched (errors.Is) by every validation error.
var ErrInvalid = errors.New("invalid audit event")

// ErrTooLarge is matched (errors.Is) by a SizeError.
var ErrTooLarge = errors.New("audit event too large")

var errUnknownContentType = errors.New("unknown content-type")

// FieldError is a field that breaks a rule. Use errors.As to read it.
type FieldError struct {
	Field  string // the JSON name: projectId, action, occurred, tenants[2]
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid audit event: %s: %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// SizeError is an encoded event larger than the limit.
type SizeError struct {
	Size, Limit int
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("audit event too large: %d bytes, limit %d", e.Size, e.Limit)
}

// Unwrap makes errors.Is(err, ErrTooLarge) true.
func (e *SizeError) Unwrap() error { return ErrTooLarge }

// DecodeError is a record value that is not an event.
type DecodeError struct {
	Format string // protobuf, json, or the unknown content type
	Err    error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("decode %s: %v", e.Format, e.Err) }

func (e *DecodeError) Unwrap() error { return e.Err }

// Limits on the strings the rules check.
const (
	MaxIDLen     = 128
	MaxTenantLen = 256
)

// Validate checks the rules every event must meet:
//   - projectId: required; letters, digits, '.', '_' and '-' (it becomes an
//     S3 path segment, so never "." or "..");
//   - action: required; letters, digits, '.', '_', ':' and '-';
//   - occurred: required and a valid time;
//   - type: "", "info", "warn" or "error";
//   - tenants: each non-empty UTF-8 of at most 256 bytes without control
//     characters or commas (a comma would split a Datadog tag);
//   - id: at most 128 bytes of printable UTF-8 (may be empty: the producer
//     fills it in).
//
// It returns the first rule broken, as a *FieldError.
func Validate(ev *auditv1.Event) error {
	if ev == nil {
		return &FieldError{Field: "event", Reason: "nil"}
	}
	if err := checkName("projectId", ev.GetProjectId(), MaxIDLen, false); err != nil {
		return err
	}
	if p := ev.GetProjectId(); p == "." || p == ".." {
		return &FieldError{Field: "projectId", Reason: fmt.Sprintf("%q is not allowed", p)}
	}
	if err := checkName("action", ev.GetAction(), MaxIDLen, true); err != nil {
		return err
	}
	switch {
	case ev.GetOccurred() == nil:
		return &FieldError{Field: "occurred", Reason: "required"}
	case ev.GetOccurred().CheckValid() != nil:
		return &FieldError{Field: "occurred", Reason: ev.GetOccurred().CheckValid().Error()}
	}
	switch ev.GetType() {
	case "", "info", "warn", "error":
	default:
		return &FieldError{Field: "type", Reason: fmt.Sprintf("%q is not info, warn or error", ev.GetType())}
	}
	for i, t := range ev.GetTenants() {
		if why := textProblem(t, MaxTenantLen, true); why != "" {
			return &FieldError{Field: "tenants[" + strconv.Itoa(i) + "]", Reason: why}
		}
	}
	if id := ev.GetId(); id != "" {
		if why := textProblem(id, MaxIDLen, false); why != "" {
			return &FieldError{Field: "id", Reason: why}
		}
	}
	return nil
}

// CheckSize returns a *SizeError when size is over limit (limit <= 0: none).
func CheckSize(size, limit int) error {
	if limit > 0 && size > limit {
		return &SizeError{Size: size, Limit: limit}
	}
	return nil
}

// checkName checks a required identifier made of letters, digits, '.', '_'
// and '-', plus ':' when colon is true.
func checkName(field, s string, max int, colon bool) error {
	if s == "" {
		return &FieldError{Field: field, Reason: "required"}
	}
	if len(s) > max {
		return &FieldError{Field: field, Reason: fmt.Sprintf("%d bytes, limit %d", len(s), max)}
	}
	for _, r := range s {
		ok := r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || colon && r == ':')
		if !ok {
			allowed := "letters, digits, '.', '_', '-'"
			if colon {
				allowed += ", ':'"
			}
			return &FieldError{Field: field, Reason: fmt.Sprintf("character %q not allowed (%s)", r, allowed)}
		}
	}
	return nil
}

// textProblem checks free text: valid UTF-8, no control characters, and no
// commas when noComma is true. It returns what is wrong, or "". The caller
// names the field, so that a valid event costs no formatting.
func textProblem(s string, max int, noComma bool) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > max:
		return fmt.Sprintf("%d bytes, limit %d", len(s), max)
	}
	// ASCII byte by byte, the common case; from the first byte beyond
	// ASCII on, rune by rune.
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return runesProblem(s[i:], noComma)
		case c < ' ' || c == 0x7f:
			return fmt.Sprintf("control character %q", c)
		case noComma && c == ',':
			return "commas are not allowed"
		}
	}
	return ""
}

// runesProblem is textProblem's check of text beyond ASCII.
func runesProblem(s string, noComma bool) string {
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Sprintf("control character %q", r)
		}
		if noComma && r == ',' {
			return "commas are not allowed"
		}
	}
	return ""
}
