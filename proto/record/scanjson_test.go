package record

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

// checkScanJSON fails unless ScanJSON, UnmarshalJSON and Unmarshal agree
// with protojson on b: all reject it, or all accept it, the decoded events
// are protojson's, and the head is its event's (Unknown what protojson
// strict and lenient say), and Head.Validate says what Validate says. The
// scan's own verdict, before it hands a value to protojson, is held to
// protojson too: what it accepts, protojson must accept, and read the same;
// and the hand decoder (unjson.go) takes on exactly what the scan does. It
// reports whether the scan took b on itself.
func checkScanJSON(t *testing.T, b []byte) (scanned bool) {
	t.Helper()
	want, wantUnknown, werr := protojsonEvent(b)
	h, serr := ScanJSON(b)
	ev, unknown, uerr := UnmarshalJSON(b)
	if (uerr == nil) != (werr == nil) {
		t.Fatalf("%q: UnmarshalJSON error %v, protojson error %v", b, uerr, werr)
	}
	if uerr == nil {
		if !sameEvent(ev, want) || unknown != wantUnknown {
			t.Fatalf("%q: UnmarshalJSON gives %v (unknown %v), protojson %v (unknown %v)", b, ev, unknown, want, wantUnknown)
		}
	}
	if got, err := Unmarshal(b, ContentTypeJSON); (err == nil) != (werr == nil) || err == nil && !sameEvent(got, want) {
		t.Fatalf("%q: Unmarshal gives %v, %v; protojson %v, %v", b, got, err, want, werr)
	}
	var s scan
	scanned = s.json(b)
	if _, _, decoded := unmarshalJSONEvent(b); decoded != scanned {
		t.Fatalf("%q: the scan takes it on itself: %v; the hand decoder: %v", b, scanned, decoded)
	}
	if scanned {
		if werr != nil {
			t.Fatalf("%q: the scan accepts what protojson rejects: %v", b, werr)
		}
		if got := s.head(); !sameHead(got, h) {
			t.Fatalf("%q: scanned %+v, ScanJSON %+v", b, got, h)
		}
	}
	if (serr == nil) != (werr == nil) {
		t.Fatalf("%q: scan error %v, protojson error %v", b, serr, werr)
	}
	if werr != nil {
		if Reason(serr) != ReasonMalformedJSON || Reason(uerr) != ReasonMalformedJSON {
			t.Fatalf("%q: scan error %v, decode error %v: not malformed_json", b, serr, uerr)
		}
		return scanned
	}
	wantHead := HeadOf(want)
	wantHead.Unknown = wantUnknown
	if !sameHead(h, wantHead) {
		t.Fatalf("%q: scanned %+v, decoded %+v", b, h, wantHead)
	}
	if got, want := reasonOf(h.Validate()), reasonOf(Validate(want)); got != want {
		t.Fatalf("%q: Head.Validate %q, Validate %q", b, got, want)
	}
	return scanned
}

// protojsonEvent is the reference JSON decoding: protojson strict, and
// lenient (jsonIn) when that fails, as UnmarshalJSON did before unjson.go.
func protojsonEvent(b []byte) (ev *auditv1.Event, unknown bool, err error) {
	ev = new(auditv1.Event)
	if jsonStrict.Unmarshal(b, ev) == nil {
		return ev, false, nil
	}
	ev = new(auditv1.Event)
	if err := jsonIn.Unmarshal(b, ev); err != nil {
		return nil, false, err
	}
	return ev, true, nil
}

// sameEvent compares two events with proto.Equal and by their
// deterministic encoding, which tells -0 from 0 where proto.Equal does not.
func sameEvent(a, b *auditv1.Event) bool {
	opt := proto.MarshalOptions{Deterministic: true}
	ab, aerr := opt.Marshal(a)
	bb, berr := opt.Marshal(b)
	return proto.Equal(a, b) && aerr == nil && berr == nil && bytes.Equal(ab, bb)
}

// TestUnjsonCoversEveryField sets every field of the Event and checks that
// the hand decoder takes the event's JSON on itself, under either name of
// each field, and decodes every field: a field added to event.proto must be
// added to unjson.go.
func TestUnjsonCoversEveryField(t *testing.T) {
	ev := everyField(t, "unjson.go")
	fields := ev.ProtoReflect().Descriptor().Fields()
	for _, opt := range []protojson.MarshalOptions{{}, {UseProtoNames: true}} {
		b, err := opt.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, unknown, ok := unmarshalJSONEvent(b)
		if !ok || unknown {
			t.Fatalf("%s: taken on %v, unknown fields %v; want taken, none", b, ok, unknown)
		}
		for i := range fields.Len() {
			if f := fields.Get(i); !got.ProtoReflect().Has(f) {
				t.Errorf("%s: field %s (%d) is not decoded: add it to unjson.go and eventField", b, f.Name(), f.Number())
			}
		}
		if !sameEvent(got, ev) {
			t.Errorf("got %v, want %v", got, ev)
		}
	}
}

func sameHead(a, b Head) bool {
	return a.ID == b.ID && a.Project == b.Project && a.Action == b.Action && a.Type == b.Type &&
		slices.Equal(a.Tenants, b.Tenants) && a.Unknown == b.Unknown &&
		a.hasOccurred == b.hasOccurred && a.seconds == b.seconds && a.nanos == b.nanos
}

// asciiJSON escapes every rune beyond ASCII as \uXXXX, surrogate pairs
// included, as Python's json.dumps does by default.
func asciiJSON(b []byte) []byte {
	var out []byte
	for _, r := range string(b) {
		if r < 0x80 {
			out = append(out, byte(r))
			continue
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != 0xfffd {
			out = fmt.Appendf(out, `\u%04x\u%04X`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
	}
	return out
}

// jsonOf encodes ev as a JSON producer might: protojson with either field
// names, compact or indented, and now and then an unknown field or
// escapes.
func jsonOf(r *rand.Rand, ev *auditv1.Event) ([]byte, bool) {
	b, err := protojson.MarshalOptions{UseProtoNames: r.IntN(3) == 0, Multiline: r.IntN(4) == 0, EmitUnpopulated: r.IntN(5) == 0}.Marshal(ev)
	if err != nil {
		return nil, false // not valid UTF-8, or a NaN in data
	}
	if r.IntN(4) == 0 {
		unknown := []string{`"zz":1`, `"newField":{"a":[1,2,{"b":null}],"a":-0.5e-3}`, `"x_y":"\ud83d\ude00"`, `"":true`, `"[foo.bar]":1`}[r.IntN(5)]
		if strings.TrimSpace(string(b)) == "{}" {
			b = []byte("{" + unknown + "}")
		} else {
			b = slices.Concat([]byte("{"+unknown+","), b[1:])
		}
	}
	if r.IntN(6) == 0 {
		b = asciiJSON(b)
	}
	return b, true
}

// jsonMutations are the bytes that change a JSON value's meaning.
const jsonMutations = "{}[]\",:\\ \t\n0123456789eE.-+ntfulxZ\x00\x1f\x7f\xff\xc3"

func mutateJSON(r *rand.Rand, b []byte) []byte {
	c := slices.Clone(b)
	switch i := r.IntN(len(c)); r.IntN(3) {
	case 0:
		c[i] = jsonMutations[r.IntN(len(jsonMutations))]
	case 1:
		c = slices.Insert(c, i, jsonMutations[r.IntN(len(jsonMutations))])
	default:
		c = slices.Delete(c, i, i+1)
	}
	return c
}

// TestScanJSONAgreesWithUnmarshal: random events of every shape, the load
// generator's, and both cut short and mutated at random.
func TestScanJSONAgreesWithUnmarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for i := range 4000 {
		ev := randomEvent(r, false)
		if i%3 == 0 {
			ev = sampleEvent(r, 700)
		}
		switch r.IntN(5) {
		case 0:
			ev.Occurred = &timestamppb.Timestamp{Seconds: 1 << 40}
		case 1:
			ev.Occurred = nil
		}
		b, ok := jsonOf(r, ev)
		if !ok {
			continue
		}
		checkScanJSON(t, b)
		checkScanJSON(t, b[:r.IntN(len(b))])
		for range 3 {
			checkScanJSON(t, mutateJSON(r, b))
		}
	}
}

// TestScanJSONTakesCommonValues: the scan must take the values producers
// send on itself, or the router pays for a decode after all.
func TestScanJSONTakesCommonValues(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	for range 200 {
		ev := sampleEvent(r, 700)
		ev.Data.Fields["count"] = structpb.NewNumberValue(float64(r.IntN(1000)))
		ev.Data.Fields["ratio"] = structpb.NewNumberValue(r.Float64())
		ev.Data.Fields["city"] = structpb.NewStringValue("Zürich 🏔")
		ev.Tenants = append(ev.Tenants, "Zürich AG") // escaped by asciiJSON
		for _, opt := range []protojson.MarshalOptions{{}, {UseProtoNames: true}, {Multiline: true}} {
			b, err := opt.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range [][]byte{b, asciiJSON(b)} {
				if !checkScanJSON(t, v) {
					t.Fatalf("%s: handed to the decoder", v)
				}
			}
		}
	}
}

// TestScanJSONEdgeCases: values on either side of each rule of protojson
// the scan checks.
func TestScanJSONEdgeCases(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxJSONDepth+2) + "1" + strings.Repeat("}", maxJSONDepth+2)
	for _, s := range []string{
		``, ` `, `{}`, ` {} `, `{} {}`, `{}x`, `[]`, `null`, `{`, `}`, `{,}`, `{"id":"a",}`,
		`{"projectId":"P","project_id":"P"}`,                                                                       // the same field twice
		`{"projectId":"P","projectId":"P"}`,                                                                        // the same field twice
		`{"zz":1,"zz":2}`,                                                                                          // an unknown field twice: discarded
		`{"projectId":null,"projectId":"P"}`,                                                                       // null counts as seen
		`{"projectId":"P\u0031"}`,                                                                                  // an escape in a routing field
		`{"projectId":"P\/"}`,                                                                                      // an escape in a routing field
		`{"actorId":"a\u0000b"}`,                                                                                   // NUL by escape
		"{\"actorId\":\"a\x00b\"}",                                                                                 // a control character
		"{\"actorId\":\"a\x7fb\"}",                                                                                 // DEL is no control character to JSON
		"{\"actorId\":\"a\xffb\"}",                                                                                 // not UTF-8
		"{\"actorId\":\"\xed\xa0\x80\"}",                                                                           // a surrogate in UTF-8
		`{"actorId":"\ud800"}`, `{"actorId":"\udc00"}`, `{"actorId":"\udc00\u0041"}`, `{"actorId":"\udc00\ud800"}`, // lone surrogates
		`{"actorId":"\ud83d\ude00"}`, `{"actorId":"\ud83d\u0041"}`, `{"actorId":"\ud83d"}`,
		`{"actorId":"\u00e9\u12G4"}`, `{"actorId":"\x"}`, `{"actorId":"\`,
		`{"actorId":1}`, `{"actorId":true}`, `{"actorId":{}}`,
		`{"tenants":null}`, `{"tenants":[]}`, `{"tenants":["a",null]}`, `{"tenants":["a",]}`, `{"tenants":"a"}`,
		`{"tenants":["a","b","c","d","e","f","a"]}`, `{"loginIds":[1]}`, `{"external_ids":["x"],"externalIds":[]}`,
		`{"occurred":"2026-11-25T10:00:00Z"}`, `{"occurred":"2026-11-25T10:00:00.123456789+02:00"}`,
		`{"occurred":"2026-11-25T10:00:00.1234567891Z"}`, `{"occurred":"10000-01-01T00:00:00Z"}`,
		`{"occurred":"0000-12-31T23:59:59Z"}`, `{"occurred":"0001-01-01T00:00:00Z"}`, `{"occurred":"9999-12-31T23:59:59.999999999Z"}`,
		`{"occurred":"2026-11-25T10:00:00,5Z"}`, `{"occurred":"2026-11-25 10:00:00Z"}`, `{"occurred":"2026-11-25T10:00:00"}`,
		`{"occurred":1}`, `{"occurred":null}`, `{"occurred":"2026-11-25T10:00:00\u005a"}`,
		`{"data":null}`, `{"data":[]}`, `{"data":"x"}`, `{"data":{}}`, `{"data":{"a":1,"a":2}}`, `{"data":{"a":1,"b":{"a":2}}}`,
		`{"data":{"a":1e400}}`, `{"data":{"a":1e-400}}`, `{"data":{"a":-0}}`, `{"data":{"a":01}}`, `{"data":{"a":1.}}`,
		`{"data":{"a":.5}}`, `{"data":{"a":1e}}`, `{"data":{"a":1e+}}`, `{"data":{"a":+1}}`, `{"data":{"a":1E+2}}`,
		`{"data":{"a":123456789012345678901234567890}}`, `{"data":{"a":` + strings.Repeat("9", 400) + `}}`,
		`{"data":{"a":nul}}`, `{"data":{"a":nullx}}`, `{"data":{"a":[1,]}}`, `{"data":{"a":[,1]}}`, `{"data":{"a\u0062":1,"ab":2}}`,
		`{"zz":1e}`, `{"zz":1e400}`, `{"zz":{"a":1,"a":2}}`, `{"zz":[1 2]}`, `{"[foo.bar]":1}`, `{"[]":1}`, `{"":1}`,
		`{"pro\u006aectId":"P"}`, `{"id" : "a" , "action"  :"b"}`, "{\n\t\"id\":\r\"a\"}", "\xef\xbb\xbf{}",
		`{"id":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0000"}`, `{"tenants":["\u0061cme","b\u00FCro",""]}`,
		`{"action":"\uD83D\uDE00x"}`, `{"type":"\ud83dx"}`, `{"id":"\u12"}`,
		`{"type":"warn","type":"info"}`, `{"id":"` + strings.Repeat("x", 200) + `"}`,
		`{"zz":` + deep + `}`, `{"data":{"x":` + deep + `}}`,
		`{"data":{` + manyKeys(40, false) + `}}`, `{"data":{` + manyKeys(40, true) + `}}`,
	} {
		checkScanJSON(t, []byte(s))
	}
}

// manyKeys is n data entries, the last with the first's key when dup.
func manyKeys(n int, dup bool) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		k := i
		if dup && i == n-1 {
			k = 0
		}
		fmt.Fprintf(&b, `"k%d":%d`, k, i)
	}
	return b.String()
}

// FuzzScanJSON checks ScanJSON, and the scan before it hands a value to
// the decoder, against the full JSON decode on any bytes.
//
//	go test -run '^$' -fuzz FuzzScanJSON ./record
func FuzzScanJSON(f *testing.F) {
	r := rand.New(rand.NewPCG(35, 36))
	for range 20 {
		if b, ok := jsonOf(r, randomEvent(r, false)); ok {
			f.Add(b)
		}
	}
	b, _ := protojson.Marshal(sampleEvent(r, 700))
	f.Add(b)
	f.Add(asciiJSON(b))
	f.Add([]byte(`{"projectId":"P1","action":"UserCreated","tenants":["acme"],"occurred":"2026-11-25T10:00:00Z"}`))
	f.Add([]byte(`{"project_id":"P1","action":"A","login_ids":["x"],"data":{"k":[1,"2",{"z":null}]}}`))
	f.Add([]byte(`{"projectId":"P1","tenant":"acme","unknown":{"deep":[1,2]}}`))
	f.Add([]byte(`{"occurred":"10000-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"data":{"a":1e400,"b":"\ud83d\ude00"}}`))
	f.Add([]byte("{\"action\":\"\\ud800\"}"))
	f.Fuzz(func(t *testing.T, b []byte) { checkScanJSON(t, b) })
}

// benchJSONValues are benchValues' events as JSON.
func benchJSONValues(b *testing.B) [][]byte {
	evs := benchEvents()
	vs := make([][]byte, len(evs))
	for i, ev := range evs {
		v, err := protojson.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		vs[i] = v
	}
	return vs
}

// BenchmarkScanJSON is the router's read of a JSON value, against
// BenchmarkUnmarshalJSON's full decode of the same values.
func BenchmarkScanJSON(b *testing.B) {
	vs := benchJSONValues(b)
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		h, err := ScanJSON(vs[i%len(vs)])
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalJSON is a full decode of a JSON value, by hand
// (unjson.go), against BenchmarkProtojson.
func BenchmarkUnmarshalJSON(b *testing.B) {
	vs := benchJSONValues(b)
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		ev, _, err := UnmarshalJSON(vs[i%len(vs)])
		if err != nil {
			b.Fatal(err)
		}
		if h := HeadOf(ev); h.Validate() != nil {
			b.Fatal(h.Validate())
		}
	}
}

// BenchmarkProtojson is BenchmarkUnmarshalJSON's decode by protojson, the
// reason unjson.go exists.
func BenchmarkProtojson(b *testing.B) {
	vs := benchJSONValues(b)
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		ev, _, err := protojsonEvent(vs[i%len(vs)])
		if err != nil {
			b.Fatal(err)
		}
		if h := HeadOf(ev); h.Validate() != nil {
			b.Fatal(h.Validate())
		}
	}
}

// BenchmarkNormalizeJSON is what the router would pay to turn every JSON
// value into protobuf for the connector topics: a full decode and an
// encode, against BenchmarkScanJSON's read.
func BenchmarkNormalizeJSON(b *testing.B) {
	vs := benchJSONValues(b)
	var buf []byte
	b.ReportAllocs()
	reportCPU(b)
	for i := 0; b.Loop(); i++ {
		ev, _, err := UnmarshalJSON(vs[i%len(vs)])
		if err != nil {
			b.Fatal(err)
		}
		if h := HeadOf(ev); h.Validate() != nil {
			b.Fatal(h.Validate())
		}
		var r kgo.Record
		if buf, err = MarshalInto(&r, buf, ev, Protobuf); err != nil {
			b.Fatal(err)
		}
	}
}
