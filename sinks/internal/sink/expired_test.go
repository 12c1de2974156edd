package sink

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/auditstream/auditstream/config"
)

// TestExpiredRecordsAreCounted: the group committed offset 0, and then
// retention deleted the first records of each partition before the sink
// delivered them. The sink delivers the rest and counts the deleted ones,
// per partition, as expired: a loss that used to be invisible.
func TestExpiredRecordsAreCounted(t *testing.T) {
	e := newEnv(t, config.Batch{MaxEvents: 100, MaxBytes: 1 << 20, MaxAge: config.Duration(50 * time.Millisecond)})
	e.produce(600, 7)
	ctx := context.Background()
	adm := kadm.NewClient(e.cl)
	ends := e.ends(topic)
	commit, cut := kadm.Offsets{}, kadm.Offsets{}
	wantExpired := map[int32]int64{}
	remaining := 0
	for p, end := range ends {
		commit.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
		wantExpired[p] = end / 3
		cut.Add(kadm.Offset{Topic: topic, Partition: p, At: end / 3, LeaderEpoch: -1})
		remaining += int(end - end/3)
	}
	if _, err := adm.CommitOffsets(ctx, e.p.ConnectorGroup("c1"), commit); err != nil {
		t.Fatal(err)
	}
	resp, err := adm.DeleteRecords(ctx, cut)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("delete records: %v", err)
	}

	w := newFakeWriter()
	r, stop := e.run(w, Options{})
	waitUntil(t, "the remaining events delivered", 20*time.Second, func() bool { return w.count() == remaining })
	stop()
	for p, want := range wantExpired {
		if got := testutil.ToFloat64(r.m.expired.WithLabelValues(strconv.Itoa(int(p)))); got != float64(want) {
			t.Errorf("partition %d: got %v expired records, want %d", p, got, want)
		}
	}
}
