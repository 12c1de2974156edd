//go:build integration

package main

// Secrets scoped to the process (issue #13, item 2): every process of a
// pipeline with two S3 and two Datadog connectors starts with only its own
// secrets in its environment, and works; then again with a recognisable
// fake value in every other secret. No secret value, real or fake, may
// appear in any log, error output, /metrics page, /readyz body or dead
// letter header.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/stack/kafkatest"
	"github.com/auditstream/auditstream/stack/proctest"
)

// scopedSecrets are the pipeline's secrets by environment variable, and
// which process parts use each: "admin" (the admin token), or a connector.
var scopedSecrets = map[string]string{
	"SCOPE_ADMIN_TOKEN": "admin",
	"SCOPE_S3A_AK":      "s3-a", "SCOPE_S3A_SK": "s3-a", "SCOPE_S3A_SALT": "s3-a",
	"SCOPE_S3B_AK": "s3-b", "SCOPE_S3B_SK": "s3-b",
	"SCOPE_DDA_KEY": "dd-a", "SCOPE_DDA_SALT": "dd-a",
	"SCOPE_DDB_KEY": "dd-b",
}

const scopedPipeline = `kafka:
  brokers: [%[1]s]
topics:
  events: {name: %[2]s.events, partitions: 2}
  dlq: {name: %[2]s.dlq, partitions: 1}
  heads: {name: %[2]s.heads}
  state: {name: %[2]s.state}
  connector_prefix: %[2]s.c.
  connector: {partitions: 2}
router:
  group: %[2]s.router
  commit_interval: 100ms
  listen: 127.0.0.1:0
admin:
  token: {env: SCOPE_ADMIN_TOKEN}
connectors:
  - id: s3-a
    type: s3
    listen: 127.0.0.1:0
    batch: {max_age: 200ms}
    redact: {hash: [remoteAddress], salt: {env: SCOPE_S3A_SALT}}
    s3:
      bucket: %[3]s
      prefix: a
      endpoint: %[4]s
      path_style: true
      credentials: {source: static, access_key_id: {env: SCOPE_S3A_AK}, secret_access_key: {env: SCOPE_S3A_SK}}
  - id: s3-b
    type: s3
    listen: 127.0.0.1:0
    batch: {max_age: 200ms}
    s3:
      bucket: %[3]s
      prefix: b
      endpoint: %[4]s
      path_style: true
      credentials: {source: static, access_key_id: {env: SCOPE_S3B_AK}, secret_access_key: {env: SCOPE_S3B_SK}}
  - id: dd-a
    type: datadog
    listen: 127.0.0.1:0
    batch: {max_age: 200ms}
    redact: {hash: [remoteAddress], salt: {env: SCOPE_DDA_SALT}}
    datadog: {url: %[5]s, api_key: {env: SCOPE_DDA_KEY}}
  - id: dd-b
    type: datadog
    listen: 127.0.0.1:0
    batch: {max_age: 200ms}
    datadog: {url: %[6]s, api_key: {env: SCOPE_DDB_KEY}}
`

// scopedProc is a long-running process of the test, with its whole output.
type scopedProc struct {
	name string
	cmd  *exec.Cmd
	out  proctest.Log
}

// start runs bin with exactly env added to the test's environment, which
// holds none of the pipeline's secrets.
func startScoped(t *testing.T, name string, env []string, bin string, args ...string) *scopedProc {
	t.Helper()
	p := &scopedProc{name: name, cmd: exec.Command(bin, args...)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("%s log tail:\n%s", name, proctest.Tail(p.out.String(), 20))
		}
	})
	return p
}

// adminURL waits for the process to log its admin address.
func (p *scopedProc) adminURL(t *testing.T) string {
	t.Helper()
	var url string
	eventually(t, 60*time.Second, p.name+" to log its admin address", func() bool {
		if p.cmd.ProcessState != nil {
			t.Fatalf("%s exited:\n%s", p.name, proctest.Tail(p.out.String(), 20))
		}
		if m := adminAddr.FindStringSubmatch(p.out.String()); m != nil {
			url = "http://" + m[1]
			return true
		}
		return false
	})
	return url
}

func TestScopedSecrets(t *testing.T) {
	routerBin := buildCmd(t, "router", "./cmd/router")
	producerBin := buildCmd(t, "producer", "./cmd/producer")
	auditctlBin := buildCmd(t, "sinks", "./cmd/auditctl")
	for k := range scopedSecrets {
		if _, ok := os.LookupEnv(k); ok {
			t.Fatalf("%s is set in the test's environment: the test decides which process has which secret", k)
		}
	}
	for _, canary := range []bool{false, true} {
		name := "others absent"
		if canary {
			name = "others hold a canary"
		}
		t.Run(name, func(t *testing.T) {
			scopedRun(t, canary, routerBin, producerBin, auditctlBin)
		})
	}
}

func scopedRun(t *testing.T, canary bool, routerBin, producerBin, auditctlBin string) {
	st := newBucket(t)
	real := map[string]string{
		"SCOPE_ADMIN_TOKEN": "admin-token-" + uuid.NewString(),
		"SCOPE_S3A_AK":      proctest.ReadFile(t, st.akFile), "SCOPE_S3A_SK": proctest.ReadFile(t, st.skFile),
		"SCOPE_S3B_AK": proctest.ReadFile(t, st.akFile), "SCOPE_S3B_SK": proctest.ReadFile(t, st.skFile),
		"SCOPE_S3A_SALT": "salt-a-" + uuid.NewString(), "SCOPE_DDA_SALT": "salt-dd-a-" + uuid.NewString(),
		"SCOPE_DDA_KEY": "dd-key-a-" + uuid.NewString(), "SCOPE_DDB_KEY": "dd-key-b-" + uuid.NewString(),
	}
	inA, inB := startIntake(t, real["SCOPE_DDA_KEY"]), startIntake(t, real["SCOPE_DDB_KEY"])
	base := kafkatest.Topic(t, 1)
	cfg := writeConfig(t, fmt.Sprintf(scopedPipeline, strings.Join(kafkatest.Brokers(t), ","), base, st.bucket, st.endpoint, inA.url, inB.url))

	// env is the environment of a process that uses parts: the real value
	// of each of their secrets, and, with canary, a fake one of every other.
	env := func(parts ...string) []string {
		var out []string
		for k, part := range scopedSecrets {
			switch {
			case slices.Contains(parts, part):
				out = append(out, k+"="+real[k])
			case canary:
				out = append(out, k+"=LEAKCANARY-"+k)
			}
		}
		return out
	}
	var outputs []string // every output to search for secrets
	runOnce := func(what string, parts []string, bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env(parts...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			outputs = append(outputs, what+":\n"+out.String())
			if err != nil {
				t.Fatalf("%s: %v\n%s", what, err, proctest.Tail(out.String(), 20))
			}
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("%s did not end within 2m:\n%s", what, proctest.Tail(out.String(), 20))
		}
		return out.String()
	}

	runOnce("router setup", nil, routerBin, "setup", "--config", cfg)
	runOnce("router validate", nil, routerBin, "validate", "--config", cfg)
	procs := []*scopedProc{startScoped(t, "router run", env("admin"), routerBin, "run", "--config", cfg)}
	for _, id := range []string{"s3-a", "s3-b", "dd-a", "dd-b"} {
		procs = append(procs, startScoped(t, "sink run "+id, env("admin", id), sinkBin, "run", "--config", cfg, "--connector", id))
	}

	// Events through the producer CLI, which needs the Kafka connection's
	// secrets only, and one record the router dead-letters.
	want := map[string]bool{}
	var lines bytes.Buffer
	for range 20 {
		ev := &auditv1.Event{Id: uuid.NewString(), ProjectId: "P-scope", Action: "UserCreated", Tenants: []string{"t1"},
			RemoteAddress: "10.0.0.1", Occurred: timestamppb.Now()}
		j, _ := protojson.Marshal(ev)
		lines.Write(append(j, '\n'))
		want[ev.Id] = true
	}
	file := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(file, lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	runOnce("producer publish", nil, producerBin, "publish", "--config", cfg, file)
	pb := newPublisher(t, base+".events", 1)
	if err := pb.cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("not an event")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	for _, in := range []*intake{inA, inB} {
		eventually(t, 90*time.Second, "every event at both intakes", func() bool {
			got := in.delivered(t)
			for id := range want {
				if got[id] == 0 {
					return false
				}
			}
			return true
		})
	}
	for _, prefix := range []string{"a", "b"} {
		eventually(t, 90*time.Second, "every event in the bucket under "+prefix, func() bool {
			events, _ := st.readAll(t, prefix)
			return len(events) >= len(want)
		})
		st.assertExactlyOnce(t, prefix, want)
	}

	runOnce("sink verify s3-a", []string{"s3-a"}, sinkBin, "verify", "--config", cfg, "--connector", "s3-a")
	runOnce("sink validate dd-a", []string{"admin", "dd-a"}, sinkBin, "validate", "--config", cfg, "--connector", "dd-a")
	runOnce("auditctl status", []string{"admin"}, auditctlBin, "status", "--config", cfg)
	runOnce("auditctl test dd-b", []string{"dd-b"}, auditctlBin, "test", "--config", cfg, "--connector", "dd-b")
	runOnce("auditctl test s3-b", []string{"s3-b"}, auditctlBin, "test", "--config", cfg, "--connector", "s3-b")
	if out := runOnce("auditctl dlq list", nil, auditctlBin, "dlq", "list", "--config", cfg, "--json"); !strings.Contains(out, "router") {
		t.Errorf("auditctl dlq list: want the router's dead letter, got:\n%s", out)
	}
	for _, p := range procs {
		u := p.adminURL(t)
		for _, tok := range []string{"", real["SCOPE_ADMIN_TOKEN"]} {
			for _, path := range []string{"/metrics", "/readyz"} {
				outputs = append(outputs, p.name+" "+path+":\n"+adminGet(t, u+path, tok))
			}
		}
	}
	for _, r := range kafkatest.ReadAll(t, base+".dlq", 1, 30*time.Second) {
		for _, h := range r.Headers {
			outputs = append(outputs, "dlq header "+h.Key+": "+string(h.Value))
		}
	}
	for _, p := range procs {
		outputs = append(outputs, p.name+":\n"+p.out.String())
	}

	for k, v := range real {
		for _, o := range outputs {
			if strings.Contains(o, v) {
				t.Errorf("the value of %s appears in %s", k, o)
			}
			if strings.Contains(o, "LEAKCANARY-"+k) {
				t.Errorf("the canary of %s appears in %s", k, o)
			}
		}
	}
}

// adminGet is the body of an admin endpoint, asked with the bearer token
// when it is set.
func adminGet(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}
