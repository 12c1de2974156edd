package record

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDeadLetterErrorIsCapped(t *testing.T) {
	// A long answer whose cut falls inside a multi-byte character.
	long := strings.Repeat("é", 10_000)
	dl := DeadLetter(&kgo.Record{}, "dlq", "sink", "rejected_by_intake", errors.New(long))
	msg := HeaderValue(dl.Headers, HeaderDLQError)
	if len(msg) > maxDLQError+len("… (truncated)") || !strings.HasSuffix(msg, "(truncated)") || !utf8.ValidString(msg) {
		t.Fatalf("dlq-error is %d bytes, valid UTF-8 %v, ends %q", len(msg), utf8.ValidString(msg), msg[len(msg)-20:])
	}
}
