package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestDeadLetterErrorIsCapped(t *testing.T) {
	// A long answer whose cut falls inside a multi-byte character.
	long := strings.Repeat("é", 10_000)
	dl := DeadLetter(&kgo.Record{}, "dlq", "sink", "rejected_by_intake", errors.New(long), 0)
	msg := HeaderValue(dl.Headers, HeaderDLQError)
	if len(msg) > maxDLQError+len("… (truncated)") || !strings.HasSuffix(msg, "(truncated)") || !utf8.ValidString(msg) {
		t.Fatalf("dlq-error is %d bytes, valid UTF-8 %v, ends %q", len(msg), utf8.ValidString(msg), msg[len(msg)-20:])
	}
}

func TestDeadLetterFits(t *testing.T) {
	const limit = 1 << 20
	manyTenants := make([]kgo.RecordHeader, 20_000)
	for i := range manyTenants {
		manyTenants[i] = kgo.RecordHeader{Key: HeaderTenant, Value: []byte(strings.Repeat("t", 40))}
	}
	for _, tc := range []struct {
		name    string
		rec     *kgo.Record
		cut     bool
		dropped int // headers left out, when cut
	}{
		{"small", &kgo.Record{Value: []byte("v"), Headers: manyTenants[:3]}, false, 0},
		{"3 MiB value", &kgo.Record{Value: make([]byte, 3<<20)}, true, 0},
		{"20,000 tenant headers", &kgo.Record{Value: make([]byte, limit-4096), Headers: manyTenants}, true, -1},
		{"huge key", &kgo.Record{Key: make([]byte, 2<<20), Value: []byte("v")}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.rec.Topic, tc.rec.Partition, tc.rec.Offset = "audit.events", 2, 42
			dl := DeadLetter(tc.rec, "audit.dlq", "router", ReasonTooLarge, nil, limit)
			if got := Size(dl); got > limit {
				t.Fatalf("dead letter is %d bytes, want at most %d", got, limit)
			}
			cut := HeaderValue(dl.Headers, HeaderDLQTruncated) == "true"
			if cut != tc.cut {
				t.Fatalf("dlq-truncated %v, want %v", cut, tc.cut)
			}
			for h, want := range map[string]string{HeaderDLQTopic: "audit.events", HeaderDLQPartition: "2", HeaderDLQOffset: "42", HeaderDLQReason: ReasonTooLarge} {
				if got := HeaderValue(dl.Headers, h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if !tc.cut {
				if len(dl.Value) != len(tc.rec.Value) || len(dl.Headers) != 6+len(tc.rec.Headers) {
					t.Fatalf("uncut dead letter changed: value %d bytes, %d headers", len(dl.Value), len(dl.Headers))
				}
				return
			}
			sum := sha256.Sum256(tc.rec.Value)
			if got := HeaderValue(dl.Headers, HeaderDLQOriginalSHA256); got != hex.EncodeToString(sum[:]) {
				t.Errorf("dlq-original-sha256 = %q", got)
			}
			if got := HeaderValue(dl.Headers, HeaderDLQOriginalBytes); got != strconv.Itoa(len(tc.rec.Value)) {
				t.Errorf("dlq-original-bytes = %q, want %d", got, len(tc.rec.Value))
			}
			if !bytes.HasPrefix(tc.rec.Value, dl.Value) {
				t.Error("the truncated value is not a prefix of the original")
			}
			dropped, _ := strconv.Atoi(HeaderValue(dl.Headers, HeaderDLQHeadersDropped))
			kept := len(dl.Headers) - 10
			if dropped+kept != len(tc.rec.Headers) || (tc.dropped >= 0 && dropped != tc.dropped) || (tc.dropped < 0 && dropped == 0) {
				t.Errorf("dlq-headers-dropped = %d with %d kept, of %d", dropped, kept, len(tc.rec.Headers))
			}
		})
	}
}
