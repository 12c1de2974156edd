// Package securekafka gives integration tests an Apache Kafka with secured
// listeners: SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER with
// unsecured JWTs) and mTLS, started by stack/kafka.sh with KAFKA_SECURITY=1
// in a STACK_DIR of its own, beside (never instead of) the stack's broker.
//
// Start fails the test when the broker cannot start: a missing service is
// loud, never a skip.
package securekafka

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
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
}

// Start starts the secured broker, or reuses it when it already runs, and
// stops it when the test ends if it started it. Its STACK_DIR is
// $AUDITSTREAM_SECURE_STACK_DIR, else "secure" inside the stack's
// ($AUDITSTREAM_STACK_DIR); the jars are the stack's, so nothing is fetched.
func Start(t testing.TB) *Broker {
	t.Helper()
	dir := os.Getenv("AUDITSTREAM_SECURE_STACK_DIR")
	if dir == "" {
		sd := os.Getenv("AUDITSTREAM_STACK_DIR")
		if sd == "" {
			t.Fatal("AUDITSTREAM_STACK_DIR is not set: the security tests start a second broker beside the local stack's (run `make test`, or `make up` and source .stack/env)")
		}
		dir = filepath.Join(sd, "secure")
	}
	env := append(os.Environ(), "STACK_DIR="+dir, "KAFKA_SECURITY=1")
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
	}
	if b.SASLSSL == "" || b.MTLS == "" || b.CAFile == "" || b.PasswordFile == "" {
		t.Fatalf("stack/kafka.sh security printed an incomplete set:\n%s", out)
	}
	return b
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
