package plan

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

var opts = Options{Window: 90 * time.Second, Kills: 1, Storms: 1, Routers: 2, Connectors: []string{"a", "b", "c"}, Replicas: 2}

func TestMakeIsReproducible(t *testing.T) {
	if got, want := Make(42, opts), Make(42, opts); !reflect.DeepEqual(got, want) {
		t.Errorf("same seed, different plans:\n%v\n%v", got, want)
	}
	if reflect.DeepEqual(Make(1, opts), Make(2, opts)) {
		t.Error("seeds 1 and 2 gave the same plan")
	}
}

func TestMakeInjectsEveryKind(t *testing.T) {
	for seed := range uint64(200) {
		steps := Make(seed, opts)
		for _, k := range Kinds {
			if !slices.ContainsFunc(steps, func(s Step) bool { return s.Kind == k }) {
				t.Fatalf("seed %d: no %s in %v", seed, k, steps)
			}
		}
		r := steps[slices.IndexFunc(steps, func(s Step) bool { return s.Kind == Replay })]
		if r.At < opts.Window*2/5 || r.At > opts.Window*3/5 {
			t.Fatalf("seed %d: replay at %s, not in the middle of %s", seed, r.At, opts.Window)
		}
		out := slices.IndexFunc(steps, func(s Step) bool { return s.Kind == ScaleOut })
		in := slices.IndexFunc(steps, func(s Step) bool { return s.Kind == ScaleIn })
		if in < out || steps[in].Target != steps[out].Target {
			t.Fatalf("seed %d: scale-in %d (%s) does not follow scale-out %d (%s)", seed, in, steps[in].Target, out, steps[out].Target)
		}
		for i, s := range steps {
			if s.At < 0 || s.At >= opts.Window {
				t.Fatalf("seed %d: step %v outside the window", seed, s)
			}
			if i > 0 && s.At < steps[i-1].At {
				t.Fatalf("seed %d: steps out of order: %v", seed, steps)
			}
		}
	}
}
