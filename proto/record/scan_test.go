package record

import (
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// checkScan fails unless ScanProtobuf agrees with Unmarshal on b: both
// reject it, or both accept it and the head is the decoded event's, and
// Head.Validate says what Validate says.
func checkScan(t *testing.T, b []byte) {
	t.Helper()
	h, serr := ScanProtobuf(b)
	ev, uerr := Unmarshal(b, ContentTypeProtobuf)
	if (serr == nil) != (uerr == nil) {
		t.Fatalf("% x: scan error %v, decode error %v", b, serr, uerr)
	}
	if uerr != nil {
		if Reason(serr) != ReasonMalformedProtobuf {
			t.Fatalf("% x: scan error %v is not malformed_protobuf", b, serr)
		}
		return
	}
	want := HeadOf(ev)
	if h.ID != want.ID || h.Project != want.Project || h.Action != want.Action || h.Type != want.Type ||
		!slices.Equal(h.Tenants, want.Tenants) || h.Unknown != want.Unknown ||
		h.hasOccurred != want.hasOccurred || h.seconds != want.seconds || h.nanos != want.nanos {
		t.Fatalf("% x: scanned %+v, decoded %+v", b, h, want)
	}
	// The same rule broken (a timestamp's message may differ: the head
	// has none of its unknown fields).
	if got, want := reasonOf(h.Validate()), reasonOf(Validate(ev)); got != want {
		t.Fatalf("% x: Head.Validate %q, Validate %q", b, got, want)
	}
}

func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	return Reason(err)
}

// TestScanAgreesWithUnmarshal: random events with unknown fields, the
// load generator's shape, and both cut short and corrupted at random.
func TestScanAgreesWithUnmarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for i := range 4000 {
		ev := withUnknowns(r, randomEvent(r, false))
		if i%3 == 0 {
			ev = sampleEvent(r, 700)
		}
		switch r.IntN(5) {
		case 0:
			ev.Occurred = &timestamppb.Timestamp{Seconds: 1 << 40}
		case 1:
			ev.Occurred = nil
		}
		b, err := proto.Marshal(ev)
		if err != nil {
			continue
		}
		checkScan(t, b)
		if len(b) > 0 {
			checkScan(t, b[:r.IntN(len(b))])
			c := slices.Clone(b)
			c[r.IntN(len(c))] ^= byte(1 + r.IntN(255))
			checkScan(t, c)
		}
	}
}

// TestScanEdgeCases: the hand-made values of TestUnwireEdgeCases' kind.
func TestScanEdgeCases(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{0xff, 0xff, 0xff},
		str(2, "P1"),
		cat(str(2, "P1"), str(2, "P2"), str(3, "A"), str(8, "t1"), str(8, "t2"), str(8, "t3"), str(8, "t4"), str(8, "t5"), str(8, "t1")),
		cat(msg(10, varint(1, 5)), msg(10, varint(2, 7))),         // merged
		cat(str(2, "P\xff")),                                      // not UTF-8
		cat(msg(15, entry(str(1, "k\xff"), msg(2, str(3, "v"))))), // key not UTF-8
		cat(msg(15, entry(str(1, "k"), msg(2, str(3, "v\xff"))))), // value not UTF-8
		cat(varint(2, 1)),                                         // wrong wire type: unknown
		cat(str(99, "x")),                                         // unknown
		cat(group(100, varint(1, 1))),                             // unknown group
		cat(tag(100, 4)),                                          // stray end group
		cat(msg(15, entry(str(1, "k"), msg(2, msg(6, msg(1, str(3, "x")), varint(9, 1)))))),
	} {
		checkScan(t, b)
	}
	deep := msg(2, str(3, "x"))
	for range maxNesting + 2 {
		deep = msg(2, msg(5, entry(str(1, "k"), deep)))
	}
	checkScan(t, cat(str(2, "P"), msg(15, entry(str(1, "k"), deep))))
}

// FuzzScan checks ScanProtobuf against Unmarshal on any bytes.
//
//	go test -run '^$' -fuzz FuzzScan ./record
func FuzzScan(f *testing.F) {
	r := rand.New(rand.NewPCG(23, 24))
	for range 20 {
		f.Add(mustMarshalT(f, withUnknowns(r, randomEvent(r, false))))
	}
	f.Add(mustMarshalT(f, sampleEvent(r, 700)))
	f.Fuzz(func(t *testing.T, b []byte) { checkScan(t, b) })
}

// BenchmarkScanProtobuf is the router's read of a value, against
// BenchmarkUnmarshal's full decode of the same values.
func BenchmarkScanProtobuf(b *testing.B) {
	vs := benchValues(b)
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		h, err := ScanProtobuf(vs[i%len(vs)])
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
