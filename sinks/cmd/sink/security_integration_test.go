//go:build integration

package main

// Kafka transport security, proven on real listeners: a second Apache Kafka
// with SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER) and mTLS
// listeners (stack/securekafka), and every component over each: the SDK,
// the producer CLI, the router and this sink. One package runs them all so
// that the broker starts once.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/producer"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
	"github.com/auditstream/auditstream/sinks/internal/pipeline"
	"github.com/auditstream/auditstream/stack/proctest"
	"github.com/auditstream/auditstream/stack/securekafka"
	"github.com/auditstream/auditstream/stack/testpki"
)

// secDDKey is the Datadog key of the security tests' intake (not a real key).
const secDDKey = "security-test-dd-key-0123456789abcdef"

// buildCmd builds a command of another module of the workspace.
func buildCmd(t *testing.T, module, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if b, err := exec.Command("go", "build", "-C", filepath.Join("..", "..", "..", module), "-o", out, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// listener is one way in: the kafka block of a pipeline file.
type listener struct {
	name  string
	kafka string
}

func secListeners(t *testing.T, b *securekafka.Broker) []listener {
	tok := filepath.Join(t.TempDir(), "oauth-token")
	if err := os.WriteFile(tok, []byte(securekafka.UnsecuredJWT("auditstream", time.Hour)), 0o600); err != nil {
		t.Fatal(err)
	}
	sasl := func(mech string) string {
		return fmt.Sprintf(`kafka:
  brokers: [%s]
  tls: {ca_file: %s}
  sasl: {mechanism: %s, username: %s, password: {file: %s}}`, b.SASLSSL, b.CAFile, mech, b.User, b.PasswordFile)
	}
	return []listener{
		{"scram-sha-256", sasl("SCRAM-SHA-256")},
		{"scram-sha-512", sasl("SCRAM-SHA-512")},
		{"plain", sasl("PLAIN")},
		{"oauthbearer", fmt.Sprintf(`kafka:
  brokers: [%s]
  tls: {ca_file: %s}
  sasl:
    mechanism: OAUTHBEARER
    oauth: {token: {file: %s}}`, b.SASLSSL, b.CAFile, tok)},
		{"mtls", fmt.Sprintf(`kafka:
  brokers: [%s]
  tls: {ca_file: %s, cert_file: %s, key_file: %s}`, b.MTLS, b.CAFile, b.CertFile, b.KeyFile)},
	}
}

// secPipeline writes a pipeline file with the kafka block and one Datadog
// connector "dd" delivering to intakeURL; topic names carry name.
func secPipeline(t *testing.T, kafka, name, intakeURL string) string {
	t.Helper()
	suffix := uuid.NewString()[:8]
	return writeConfig(t, fmt.Sprintf(`%s
topics:
  events: {name: sec.%s.%s.events, partitions: 2}
  dlq: {name: sec.%s.%s.dlq, partitions: 1}
  connector_prefix: sec.%s.%s.c.
router:
  group: sec-router-%s-%s
  commit_interval: 100ms
  listen: 127.0.0.1:0
connectors:
  - id: dd
    type: datadog
    listen: 127.0.0.1:0
    batch: {max_age: 200ms}
    datadog: {url: %s, api_key: {env: SEC_DD_KEY}}
`, kafka, name, suffix, name, suffix, name, suffix, name, suffix, intakeURL))
}

func secEvent() *auditv1.Event {
	return &auditv1.Event{Id: uuid.NewString(), ProjectId: "P-sec", Action: "UserCreated", Occurred: timestamppb.Now()}
}

// sdkOptions builds the SDK's options from the pipeline file, as an
// application sharing it would.
func sdkOptions(t *testing.T, cfg string) producer.Options {
	t.Helper()
	p, err := pipeline.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := producer.Options{Brokers: p.Kafka.Brokers, Topic: p.Topics.Events.Name, DeliveryTimeout: 20 * time.Second}
	if o.TLS, err = p.Kafka.TLSConfig(); err != nil {
		t.Fatal(err)
	}
	if o.SASL, err = p.Kafka.SASLMechanism(); err != nil {
		t.Fatal(err)
	}
	return o
}

// runCmd runs a command to its end (at most timeout) and returns its exit
// code and combined output.
func runCmd(t *testing.T, timeout time.Duration, env []string, name string, args ...string) (int, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), time.Since(t0)
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), time.Since(t0)
	}
	t.Fatalf("%s %v: %v\n%s", name, args, err, out.String())
	return 0, "", 0
}

func TestKafkaSecurity(t *testing.T) {
	b := securekafka.Start(t)
	routerBin := buildCmd(t, "router", "./cmd/router")
	producerBin := buildCmd(t, "producer", "./cmd/producer")
	// The pipeline files name the intake's key by this variable; the
	// subprocesses inherit it, and config.Load in this process reads it.
	t.Setenv("SEC_DD_KEY", secDDKey)
	var env []string

	for _, l := range secListeners(t, b) {
		t.Run("every component over "+l.name, func(t *testing.T) {
			t0 := time.Now()
			in := startIntake(t, secDDKey)
			cfg := secPipeline(t, l.kafka, l.name, in.url)
			if code, out, _ := runCmd(t, time.Minute, env, routerBin, "setup", "--config", cfg); code != 0 {
				t.Fatalf("router setup: exit %d\n%s", code, out)
			}
			want := map[string]bool{}

			// The SDK.
			p, err := producer.New(sdkOptions(t, cfg))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for range 5 {
				ev := secEvent()
				if err := p.Publish(ctx, ev); err != nil {
					t.Fatalf("SDK publish: %v", err)
				}
				want[ev.Id] = true
			}
			_ = p.Close(ctx)

			// The producer CLI.
			var lines bytes.Buffer
			for range 5 {
				ev := secEvent()
				j, _ := protojson.Marshal(ev)
				lines.Write(append(j, '\n'))
				want[ev.Id] = true
			}
			file := filepath.Join(t.TempDir(), "events.ndjson")
			if err := os.WriteFile(file, lines.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			if code, out, _ := runCmd(t, time.Minute, env, producerBin, "publish", "--config", cfg, file); code != 0 {
				t.Fatalf("producer publish: exit %d\n%s", code, out)
			}

			t.Logf("setup and publishing took %v", time.Since(t0).Round(time.Millisecond))
			// The router and the sink, to the intake.
			router := exec.Command(routerBin, "run", "--config", cfg)
			var rlog bytes.Buffer
			router.Stderr = &syncWriter{w: &rlog}
			if err := router.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = router.Process.Kill(); _ = router.Wait() }()
			sink := startSink(t, cfg, "dd", env...)
			deadline := time.Now().Add(90 * time.Second)
			for {
				got := in.delivered(t)
				missing := 0
				for id := range want {
					if got[id] == 0 {
						missing++
					}
				}
				if missing == 0 {
					t.Logf("all %d events at the intake %v after start", len(want), time.Since(t0).Round(time.Millisecond))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d events never reached the intake over %s\nrouter log:\n%s\nsink log:\n%s",
						missing, len(want), l.name, proctest.Tail(rlog.String(), 30), proctest.Tail(sink.Log(), 30))
				}
				time.Sleep(250 * time.Millisecond)
			}
		})
	}

	t.Run("misconfigurations fail fast and say what to fix", func(t *testing.T) {
		wrong := filepath.Join(t.TempDir(), "wrong-password")
		if err := os.WriteFile(wrong, []byte("not-the-password"), 0o600); err != nil {
			t.Fatal(err)
		}
		// A CA that signed nothing the broker holds: a client that trusts
		// only it must refuse the broker, and a broker must refuse a
		// client certificate it signed.
		stranger := testpki.NewCA(t, "a CA the broker never heard of")
		otherCA := stranger.File
		badCert, badKey := stranger.Issue(t, "untrusted-client", true)
		in := startIntake(t, secDDKey)
		for _, tc := range []struct {
			name, kafka, want string
		}{
			{"wrong password", fmt.Sprintf("kafka:\n  brokers: [%s]\n  tls: {ca_file: %s}\n  sasl: {mechanism: SCRAM-SHA-512, username: %s, password: {file: %s}}",
				b.SASLSSL, b.CAFile, b.User, wrong),
				"the broker rejected the SCRAM-SHA-512 credentials: check kafka.sasl.username (" + b.User + ") and the password in file:" + wrong},
			{"untrusted certificate", fmt.Sprintf("kafka:\n  brokers: [%s]\n  tls: {ca_file: %s}\n  sasl: {mechanism: PLAIN, username: %s, password: {file: %s}}",
				b.SASLSSL, otherCA, b.User, b.PasswordFile),
				"the broker's certificate is not signed by a trusted CA: kafka.tls.ca_file (" + otherCA + ") must hold the CA"},
			{"sasl against plaintext", fmt.Sprintf("kafka:\n  brokers: [%s]\n  sasl: {mechanism: SCRAM-SHA-256, username: %s, password: {file: %s}}",
				b.Plain, b.User, b.PasswordFile),
				"the listener does not speak SASL: remove kafka.sasl, or point kafka.brokers to the SASL listener"},
			{"mtls without a client certificate", fmt.Sprintf("kafka:\n  brokers: [%s]\n  tls: {ca_file: %s}", b.MTLS, b.CAFile),
				"the listener requires a client certificate (mTLS): set kafka.tls.cert_file and kafka.tls.key_file"},
			{"mtls with an untrusted client certificate", fmt.Sprintf("kafka:\n  brokers: [%s]\n  tls: {ca_file: %s, cert_file: %s, key_file: %s}", b.MTLS, b.CAFile, badCert, badKey),
				"the broker refused the client certificate: kafka.tls.cert_file must be signed by a CA in the broker's truststore"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := secPipeline(t, tc.kafka, "bad", in.url)
				events := filepath.Join(t.TempDir(), "one.ndjson")
				j, _ := protojson.Marshal(secEvent())
				if err := os.WriteFile(events, append(j, '\n'), 0o600); err != nil {
					t.Fatal(err)
				}
				for _, c := range []struct {
					what string
					bin  string
					args []string
				}{
					{"router run", routerBin, []string{"run", "--config", cfg}},
					{"router setup", routerBin, []string{"setup", "--config", cfg}},
					{"sink run", sinkBin, []string{"run", "--config", cfg, "--connector", "dd"}},
					{"producer publish", producerBin, []string{"publish", "--config", cfg, events}},
				} {
					code, out, took := runCmd(t, 30*time.Second, env, c.bin, c.args...)
					t.Logf("%s: exit %d after %v", c.what, code, took.Round(time.Millisecond))
					if code != 2 || !strings.Contains(out, tc.want) || took > 15*time.Second {
						t.Errorf("%s: exit %d after %v, want exit 2 within 15s saying %q; output:\n%s", c.what, code, took.Round(time.Millisecond), tc.want, proctest.Tail(out, 10))
					}
				}
				// The SDK: Publish retries a failed login until its context
				// or delivery timeout ends, as franz-go does; an application
				// that wants to fail fast pings first, as the CLI does, and
				// config explains the error.
				p, err := producer.New(sdkOptions(t, cfg))
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close(context.Background())
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				t0 := time.Now()
				perr := p.Client().Ping(ctx)
				took := time.Since(t0)
				k, _ := pipeline.Load(cfg)
				if ae := k.Kafka.Explain(perr); ae == nil || !strings.Contains(ae.Error(), tc.want) || took > 5*time.Second {
					t.Errorf("SDK: Ping error %v after %v, explained as %v; want %q within 5s", perr, took.Round(time.Millisecond), ae, tc.want)
				}
			})
		}
	})

	t.Run("a rotated password file is used by the next connection", func(t *testing.T) {
		adm := kadm.NewClient(mustClient(t, kgo.SeedBrokers(b.Plain)))
		user := "rotor-" + uuid.NewString()[:8]
		setPassword := func(pw string) {
			t.Helper()
			res, err := adm.AlterUserSCRAMs(context.Background(), nil, []kadm.UpsertSCRAM{{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: pw}})
			if err == nil {
				err = res.Error()
			}
			if err != nil {
				t.Fatalf("set the broker's password of %s: %v", user, err)
			}
		}
		pwFile := filepath.Join(t.TempDir(), "password")
		writePW := func(pw string) {
			t.Helper()
			tmp := pwFile + ".tmp"
			if err := os.WriteFile(tmp, []byte(pw+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, pwFile); err != nil {
				t.Fatal(err)
			}
		}
		setPassword("first-password-1")
		writePW("first-password-1")
		k := config.Kafka{Brokers: []string{b.SASLSSL}, TLS: &config.TLS{CAFile: b.CAFile},
			SASL: &config.SASL{Mechanism: config.MechanismScramSHA512, Username: user, Password: config.Secret{File: pwFile}}}
		opts, err := k.ClientOpts()
		if err != nil {
			t.Fatal(err)
		}
		// Idle connections close after 200ms, so each ping below opens a
		// new connection and authenticates again.
		cl := mustClient(t, append(opts, kgo.ConnIdleTimeout(200*time.Millisecond))...)
		ping := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			time.Sleep(time.Second) // let the reaper close the idle connections
			return cl.Ping(ctx)
		}
		if err := ping(); err != nil {
			t.Fatalf("first password: %v", err)
		}
		setPassword("second-password-2")
		if err := ping(); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("broker rotated, file not yet: got %v, want SASL_AUTHENTICATION_FAILED (a new connection with the old password)", err)
		}
		writePW("second-password-2")
		if err := ping(); err != nil {
			t.Fatalf("after rotating the file too: got %v, want a new connection to succeed with no restart", err)
		}
	})
}

func mustClient(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
