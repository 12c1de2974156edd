//go:build integration

package s3sink

import (
	"bytes"
	"cmp"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/auditstream/auditstream/sinks/internal/batch"
)

// TestVerifyDetects tampers with a written archive and checks that Verify
// reports exactly what was done.
func TestVerifyDetects(t *testing.T) {
	m := localMinio(t)
	bucket := m.newBucket(t, false)
	items := sampleItems(600, 0, 11)

	type found struct{ kind, key string }
	tests := []struct {
		name   string
		tamper func(t *testing.T, w *Writer, objs []storedObject) []found
	}{
		{"untouched", func(t *testing.T, w *Writer, objs []storedObject) []found { return nil }},
		{"deleted object", func(t *testing.T, w *Writer, objs []storedObject) []found {
			del(t, w, objs[2].key)
			return []found{{ProblemMissing, objs[2].key}, {ProblemBrokenChain, objs[3].key}}
		}},
		{"deleted last object", func(t *testing.T, w *Writer, objs []storedObject) []found {
			last := objs[len(objs)-1].key
			del(t, w, last)
			return []found{{ProblemMissing, last}}
		}},
		{"altered object", func(t *testing.T, w *Writer, objs []storedObject) []found {
			// New content under the old metadata: one event removed.
			o := objs[1]
			content, _, err := w.enc.encode(itemsOf(o)[1:])
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(o.key),
				Body: bytes.NewReader(content), Metadata: o.meta.header()})
			if err != nil {
				t.Fatal(err)
			}
			return []found{{ProblemAltered, o.key}}
		}},
		{"broken chain", func(t *testing.T, w *Writer, objs []storedObject) []found {
			o := objs[3]
			meta := o.meta
			meta.prev = "00000000000000000000000000000000000000000000000000000000deadbeef"
			_, err := w.s3.CopyObject(t.Context(), &s3.CopyObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(o.key),
				CopySource: aws.String(w.bucket + "/" + o.key), Metadata: meta.header(), MetadataDirective: types.MetadataDirectiveReplace})
			if err != nil {
				t.Fatal(err)
			}
			return []found{{ProblemBrokenChain, o.key}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWriter(t, m.connector("verify", bucket, tt.name))
			write(t, w, batchOf(0, 0, through(items, 299)))
			write(t, w, batchOf(0, 300, after(items, 299)))
			objs := readAll(t, w)
			if len(objs) < 5 {
				t.Fatalf("got %d objects, want 5 or more", len(objs))
			}
			want := tt.tamper(t, w, objs)
			r, err := w.Verify(t.Context())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			var got []found
			for _, p := range r.Partitions {
				for _, pr := range p.Problems {
					got = append(got, found{pr.Kind, pr.Key})
					t.Logf("%s %s: %s", pr.Kind, pr.Key, pr.Detail)
				}
			}
			order := func(a, b found) int { return cmp.Or(strings.Compare(a.kind, b.kind), strings.Compare(a.key, b.key)) }
			slices.SortFunc(got, order)
			slices.SortFunc(want, order)
			if !slices.Equal(got, want) {
				t.Errorf("problems: got %v, want %v", got, want)
			}
			if r.OK() != (len(want) == 0) || r.Problems != len(want) {
				t.Errorf("OK() = %v with %d problems, want %d", r.OK(), r.Problems, len(want))
			}
			// The report is JSON for the CLI.
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, r) {
				t.Errorf("report does not round-trip through JSON: %v\n%s", err, b)
			}
		})
	}
}

// itemsOf turns a stored object's events back into items.
func itemsOf(o storedObject) []batch.Item {
	items := make([]batch.Item, len(o.events))
	for i, ev := range o.events {
		items[i] = batch.Item{Offset: o.meta.first + int64(i), Event: ev}
	}
	return items
}

func del(t *testing.T, w *Writer, key string) {
	t.Helper()
	if _, err := w.s3.DeleteObject(t.Context(), &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
}
