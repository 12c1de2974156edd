package check

import (
	"reflect"
	"testing"
)

func TestCompare(t *testing.T) {
	want := map[string]bool{"a": true, "b": true, "c": true}
	tests := []struct {
		name string
		got  map[string]int
		want Delivery
	}{
		{"exact", map[string]int{"a": 1, "b": 1, "c": 1},
			Delivery{Expected: 3, Delivered: 3}},
		{"lost", map[string]int{"a": 1},
			Delivery{Expected: 3, Delivered: 1, Lost: 2, LostIDs: []string{"b", "c"}}},
		{"duplicated", map[string]int{"a": 3, "b": 1, "c": 2},
			Delivery{Expected: 3, Delivered: 3, Duplicated: 2, Copies: 3, DupIDs: []string{"a", "c"}}},
		{"leaked", map[string]int{"a": 1, "b": 1, "c": 1, "forged-1": 1},
			Delivery{Expected: 3, Delivered: 3, Leaked: 1, LeakedIDs: []string{"forged-1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare("", "", want, tt.got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCompareDLQ(t *testing.T) {
	bad := []BadRecord{{"k1", "oversize", "too_large"}, {"k2", "forged", "header_mismatch"}, {"k3", "malformed-json", "malformed_json"}}
	got := CompareDLQ(bad, []DeadLetter{
		{Key: "k1", Reason: "too_large", Stage: "router"},
		{Key: "k2", Reason: "malformed_json", Stage: "router"},
		{Key: "", Reason: "filter_mismatch", Stage: "sink:x"},
	})
	want := DLQ{Expected: 3, DeadLettered: 1, Missing: 1, WrongReason: 1,
		Unexpected:   map[string]int{"sink:x filter_mismatch": 1},
		ByKind:       map[string]int{"oversize": 1},
		MissingKeys:  []string{"k3"},
		WrongReasons: []string{"k2: forged got malformed_json, want header_mismatch"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
