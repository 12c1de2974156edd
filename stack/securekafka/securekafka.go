// Package securekafka gives integration tests an Apache Kafka with secured
// listeners: SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER with
// unsecured JWTs) and mTLS, started by stack/kafka.sh with KAFKA_SECURITY=1
// in a STACK_DIR of its own, beside (never instead of) the stack's broker.
//
// StartAuthorizing starts another one that also enforces ACLs (KRaft's
// StandardAuthorizer, allow.everyone.if.no.acl.found=false); AddUser and
// Allow give a test its principals and their ACLs.
//
// Start fails the test when the broker cannot start: a missing service is
// loud, never a skip.
package securekafka

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Broker is a running secured broker: its listeners and the files a client
// needs.
type Broker struct {
	// Plain is the PLAINTEXT listener, for test administration.
	Plain string
	// SASLSSL is the SASL_SSL listener; MTLS the one that requires a client
	// certificate.
	SASLSSL, MTLS string
	// CAFile signed the broker's certificate and the client's.
	CAFile, CertFile, KeyFile string
	// User and PasswordFile are the PLAIN and SCRAM login.
	User, PasswordFile string
	// Authorizing says that the broker enforces ACLs. User is then a super
	// user, as is the PLAINTEXT listener's principal (User:ANONYMOUS).
	Authorizing bool
}

// Start starts the secured broker, or reuses it when it already runs, and
// stops it when the test ends if it started it. Its STACK_DIR is
// $AUDITSTREAM_SECURE_STACK_DIR, else "secure" inside the stack's
// ($AUDITSTREAM_STACK_DIR); the jars are the stack's, so nothing is fetched.
func Start(t testing.TB) *Broker {
	t.Helper()
	return start(t, "secure", false)
}

// StartAuthorizing is Start for a broker that enforces ACLs, in a STACK_DIR
// of its own: $AUDITSTREAM_SECURE_STACK_DIR-acl, else "secure-acl" inside
// the stack's. Only its super users (the PLAINTEXT listener and b.User) may
// do anything that no ACL allows.
func StartAuthorizing(t testing.TB) *Broker {
	t.Helper()
	return start(t, "secure-acl", true)
}

func start(t testing.TB, name string, authorizing bool) *Broker {
	t.Helper()
	dir := os.Getenv("AUDITSTREAM_SECURE_STACK_DIR")
	if dir != "" && authorizing {
		dir += "-acl"
	}
	if dir == "" {
		sd := os.Getenv("AUDITSTREAM_STACK_DIR")
		if sd == "" {
			t.Fatal("AUDITSTREAM_STACK_DIR is not set: the security tests start a second broker beside the local stack's (run `make test`, or `make up` and source .stack/env)")
		}
		dir = filepath.Join(sd, name)
	}
	auth := "KAFKA_AUTHORIZER=0"
	if authorizing {
		auth = "KAFKA_AUTHORIZER=1"
	}
	env := append(os.Environ(), "STACK_DIR="+dir, "KAFKA_SECURITY=1", auth)
	if sd := os.Getenv("AUDITSTREAM_STACK_DIR"); sd != "" {
		if _, err := os.Stat(filepath.Join(sd, "kafka", "libs", ".stamp")); err == nil {
			env = append(env, "KAFKA_LIBS="+filepath.Join(sd, "kafka", "libs"))
		}
	}
	running := run(env, "status") == nil
	t0 := time.Now()
	if out, err := output(env, "start"); err != nil {
		t.Fatalf("start the secured Kafka (STACK_DIR=%s): %v\n%s", dir, err, out)
	}
	if !running {
		t.Logf("secured Kafka started in %v (STACK_DIR=%s)", time.Since(t0).Round(100*time.Millisecond), dir)
		t.Cleanup(func() {
			if out, err := output(env, "stop"); err != nil {
				t.Errorf("stop the secured Kafka: %v\n%s", err, out)
			}
		})
	}
	out, err := output(env, "security")
	if err != nil {
		t.Fatalf("stack/kafka.sh security: %v\n%s", err, out)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "=")
		if ok {
			vars[k] = strings.Trim(v, "'")
		}
	}
	plain, err := output(env, "addr")
	if err != nil {
		t.Fatalf("stack/kafka.sh addr: %v\n%s", err, plain)
	}
	b := &Broker{
		Plain:   strings.TrimSpace(string(plain)),
		SASLSSL: vars["AUDITSTREAM_KAFKA_SASL_SSL"], MTLS: vars["AUDITSTREAM_KAFKA_MTLS"],
		CAFile: vars["AUDITSTREAM_KAFKA_CA_FILE"], CertFile: vars["AUDITSTREAM_KAFKA_CLIENT_CERT_FILE"],
		KeyFile: vars["AUDITSTREAM_KAFKA_CLIENT_KEY_FILE"],
		User:    vars["AUDITSTREAM_KAFKA_SASL_USER"], PasswordFile: vars["AUDITSTREAM_KAFKA_SASL_PASSWORD_FILE"],
		Authorizing: vars["AUDITSTREAM_KAFKA_AUTHORIZER"] == "1",
	}
	if b.SASLSSL == "" || b.MTLS == "" || b.CAFile == "" || b.PasswordFile == "" {
		t.Fatalf("stack/kafka.sh security printed an incomplete set:\n%s", out)
	}
	if b.Authorizing != authorizing {
		t.Fatalf("the broker in %s has authorizer=%v, want %v:\n%s", dir, b.Authorizing, authorizing, out)
	}
	return b
}

// Admin returns an admin client of a super user (the PLAINTEXT listener),
// closed when the test ends.
func (b *Broker) Admin(t testing.TB) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Plain))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// AddUser gives the broker a SCRAM-SHA-256 and SCRAM-SHA-512 user with a
// random password and returns the file that holds it (mode 600, in a
// test's temporary directory). The user may do nothing until Allow.
func (b *Broker) AddUser(t testing.TB, user string) (passwordFile string) {
	t.Helper()
	pw := rand.Text()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.Admin(t)
	// One mechanism per request: Kafka refuses two changes of one user in one.
	for _, m := range []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512} {
		res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: user, Mechanism: m, Iterations: 4096, Password: pw}})
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("create the %v credentials of %s: %v", m, user, err)
		}
	}
	passwordFile = filepath.Join(t.TempDir(), user+".password")
	if err := os.WriteFile(passwordFile, []byte(pw), 0o600); err != nil {
		t.Fatal(err)
	}
	return passwordFile
}

// Allow creates ACLs as a super user, each an allow for the principals on
// every host.
func (b *Broker) Allow(t testing.TB, acls ...*kadm.ACLBuilder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := b.Admin(t)
	for _, a := range acls {
		res, err := adm.CreateACLs(ctx, a)
		if err == nil {
			for _, r := range res {
				if r.Err != nil {
					err = fmt.Errorf("%s %s %s %s: %w", r.Principal, r.Operation, r.Type, r.Name, r.Err)
					break
				}
			}
		}
		if err != nil {
			t.Fatalf("create ACLs: %v", err)
		}
	}
}

// UnsecuredJWT returns a token that Kafka's unsecured OAUTHBEARER validator
// accepts: alg none, the subject, and an expiry.
func UnsecuredJWT(sub string, ttl time.Duration) string {
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now()
	return enc([]byte(`{"alg":"none"}`)) + "." +
		enc(fmt.Appendf(nil, `{"sub":%q,"iat":%d,"exp":%d}`, sub, now.Unix(), now.Add(ttl).Unix())) + "."
}

func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "kafka.sh")
}

func run(env []string, args ...string) error {
	cmd := exec.Command("bash", append([]string{script()}, args...)...)
	cmd.Env = env
	return cmd.Run()
}

func output(env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("bash", append([]string{script()}, args...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}
