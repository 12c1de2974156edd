package config

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// pemFiles writes a self-signed CA and a client certificate signed by it,
// and returns their paths.
func pemFiles(t *testing.T) (ca, cert, key, otherKey string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() (*ecdsa.PrivateKey, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return k, der
	}
	caKey, _ := newKey()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	cliKey, cliDER := newKey()
	ctmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	certDER, err := x509.CreateCertificate(rand.Reader, ctmpl, caCert, &cliKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	_, otherDER := newKey()
	return write("ca.pem", "CERTIFICATE", caDER), write("client.pem", "CERTIFICATE", certDER),
		write("client.key", "PRIVATE KEY", cliDER), write("other.key", "PRIVATE KEY", otherDER)
}

const kafkaOnly = `kafka:
  brokers: [127.0.0.1:9093]
%s
connectors: []
`

func TestValidateKafkaTLSFiles(t *testing.T) {
	ca, cert, key, otherKey := pemFiles(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing-ca.pem")
	for _, tc := range []struct {
		name, block string
		want        []string // "line: message part"; none means valid
	}{
		{"ca and client pair", fmt.Sprintf("  tls:\n    ca_file: %s\n    cert_file: %s\n    key_file: %s", ca, cert, key), nil},
		{"missing ca file", fmt.Sprintf("  tls:\n    ca_file: %s", missing),
			[]string{"4: kafka.tls.ca_file: " + missing + ": no such file or directory"}},
		{"ca file without certificates", fmt.Sprintf("  tls:\n    ca_file: %s", garbage),
			[]string{"4: kafka.tls.ca_file: " + garbage + ": no PEM certificate in it"}},
		{"a key given as the ca", fmt.Sprintf("  tls:\n    ca_file: %s", key),
			[]string{"4: kafka.tls.ca_file: " + key + ": holds a PRIVATE KEY block"}},
		{"cert without key", fmt.Sprintf("  tls:\n    cert_file: %s", cert),
			[]string{"4: kafka.tls.cert_file: cert_file is set but key_file is not"}},
		{"key without cert", fmt.Sprintf("  tls:\n    key_file: %s", key),
			[]string{"4: kafka.tls.key_file: key_file is set but cert_file is not"}},
		{"key of another certificate", fmt.Sprintf("  tls:\n    cert_file: %s\n    key_file: %s", cert, otherKey),
			[]string{"4: kafka.tls.cert_file: " + cert + " and " + otherKey + ": tls: private key does not match public key"}},
		{"missing key file", fmt.Sprintf("  tls:\n    cert_file: %s\n    key_file: %s", cert, missing),
			[]string{"4: kafka.tls.cert_file: " + missing + ": no such file or directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(fmt.Sprintf(kafkaOnly, tc.block)))
			checkErrors(t, err, tc.want)
		})
	}
}

// checkErrors compares a Parse error with "line: message prefix" entries.
func checkErrors(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("got %v, want config.Errors", err)
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors (%v), want %d (%v)", len(es), err, len(want), want)
	}
	for i, w := range want {
		line, msg, _ := strings.Cut(w, ": ")
		if got := fmt.Sprint(es[i].Line); got != line || !strings.HasPrefix(es[i].Msg, msg) || es[i].File != "p.yaml" {
			t.Errorf("error %d: got %s:%d: %s, want p.yaml:%s: %s...", i, es[i].File, es[i].Line, es[i].Msg, line, msg)
		}
	}
}

func TestValidateKafkaSASL(t *testing.T) {
	t.Setenv("TEST_PW", "pw")
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("a.b."), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, block string
		want        []string
	}{
		{"scram", "  sasl: {mechanism: SCRAM-SHA-256, username: u, password: {env: TEST_PW}}", nil},
		{"oauthbearer", "  sasl:\n    mechanism: OAUTHBEARER\n    oauth: {token: {file: " + tok + "}, extensions: {logicalCluster: lc-1}}", nil},
		{"msk iam, default chain", "  sasl:\n    mechanism: AWS_MSK_IAM\n    aws: {source: default}", nil},
		{"msk iam, role", "  sasl:\n    mechanism: AWS_MSK_IAM\n    aws: {source: assume_role, role_arn: 'arn:aws:iam::1:role/r', external_id: {env: TEST_PW}}", nil},
		{"unknown mechanism", "  sasl: {mechanism: GSSAPI, username: u, password: {env: TEST_PW}}",
			[]string{"3: kafka.sasl.mechanism: unknown mechanism \"GSSAPI\" (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, AWS_MSK_IAM)"}},
		{"plain without user", "  sasl: {mechanism: PLAIN, password: {env: TEST_PW}}", []string{"3: kafka.sasl: username is required"}},
		{"oauthbearer without token", "  sasl: {mechanism: OAUTHBEARER}", []string{"3: kafka.sasl.mechanism: OAUTHBEARER needs an oauth block"}},
		{"oauthbearer token file missing", "  sasl:\n    mechanism: OAUTHBEARER\n    oauth: {token: {file: /nonexistent/token}}",
			[]string{"5: kafka.sasl.oauth.token: secret file /nonexistent/token: no such file or directory"}},
		{"oauthbearer with a password", "  sasl:\n    mechanism: OAUTHBEARER\n    password: {env: TEST_PW}\n    oauth: {token: {file: " + tok + "}}",
			[]string{"5: kafka.sasl.password: OAUTHBEARER does not use a password"}},
		{"msk iam bad source", "  sasl:\n    mechanism: AWS_MSK_IAM\n    aws: {source: instance}",
			[]string{"5: kafka.sasl.aws.source: unknown source \"instance\""}},
		{"msk iam static without key", "  sasl:\n    mechanism: AWS_MSK_IAM\n    aws: {source: static, access_key_id: {env: TEST_PW}}",
			[]string{"5: kafka.sasl.aws.secret_access_key: a secret reference"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The token is resolved by the check of the Kafka scope,
			// not by loading.
			p, err := Parse("p.yaml", []byte(fmt.Sprintf(kafkaOnly, tc.block)))
			if err == nil {
				err = p.CheckSecrets(SecretScope{Kafka: true})
			}
			checkErrors(t, err, tc.want)
		})
	}
}

// firstMessage runs a mechanism's first step, as franz-go does on each new
// connection, and returns what the client would send.
func firstMessage(t *testing.T, k Kafka, host string) (string, error) {
	t.Helper()
	m, err := k.SASLMechanism()
	if err != nil {
		t.Fatalf("SASLMechanism: %v", err)
	}
	_, msg, err := m.Authenticate(context.Background(), host)
	return string(msg), err
}

// TestSASLPasswordFileReadPerConnection: a rotated password file is used by
// the next connection, with no restart.
func TestSASLPasswordFileReadPerConnection(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "password")
	for _, mech := range []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			k := Kafka{SASL: &SASL{Mechanism: mech, Username: "alice", Password: Secret{File: pw}}}
			m, err := k.SASLMechanism()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"first-password", "second-password"} {
				if err := os.WriteFile(pw, []byte(want+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				sess, msg, err := m.Authenticate(context.Background(), "b:9092")
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if mech == MechanismPlain {
					if got := string(msg); got != "\x00alice\x00"+want {
						t.Errorf("PLAIN message: got %q, want the password %q", got, want)
					}
					continue
				}
				// SCRAM sends the password only as a proof in its second
				// message: answer with a server-first message and check the
				// proof against the password the file holds now.
				if got := scramProof(t, mech, sess, msg, want); got != "" {
					t.Error(got)
				}
			}
			if err := os.Remove(pw); err != nil {
				t.Fatal(err)
			}
			_, _, err = m.Authenticate(context.Background(), "b:9092")
			var se *secretError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), pw) {
				t.Errorf("removed password file: got %v, want a secret error naming %s", err, pw)
			}
		})
	}
}

func TestOAuthTokenFileReadPerConnection(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	k := Kafka{SASL: &SASL{Mechanism: MechanismOAuthBearer, OAuth: &OAuth{Token: Secret{File: tok}, Extensions: map[string]string{"logicalCluster": "lc-1"}}}}
	for _, want := range []string{"token-one", "token-two"} {
		if err := os.WriteFile(tok, []byte(want), 0o600); err != nil {
			t.Fatal(err)
		}
		msg, err := firstMessage(t, k, "b:9092")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msg, "auth=Bearer "+want+"\x01") || !strings.Contains(msg, "logicalCluster=lc-1\x01") {
			t.Errorf("got %q, want the bearer %s and the extension", msg, want)
		}
	}
}

const mskHost = "b-1.demo.abc123.c2.kafka.eu-west-1.amazonaws.com:9098"

// mskCredential returns the access key the MSK IAM payload is signed with.
func mskCredential(t *testing.T, msg string) string {
	t.Helper()
	i := strings.Index(msg, `"x-amz-credential":"`)
	if i < 0 {
		t.Fatalf("no x-amz-credential in %s", msg)
	}
	cred := msg[i+len(`"x-amz-credential":"`):]
	return cred[:strings.IndexByte(cred, '"')]
}

func TestMSKIAMCredentials(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	t.Run("static", func(t *testing.T) {
		t.Setenv("TEST_AK", "AKIASTATIC")
		t.Setenv("TEST_SK", "static-secret")
		k := Kafka{SASL: &SASL{Mechanism: MechanismMSKIAM, AWS: &KafkaAWS{Source: "static", AccessKeyID: Secret{Env: "TEST_AK"}, SecretAccessKey: Secret{Env: "TEST_SK"}}}}
		msg, err := firstMessage(t, k, mskHost)
		if err != nil {
			t.Fatal(err)
		}
		if got := mskCredential(t, msg); !strings.HasPrefix(got, "AKIASTATIC/") || !strings.HasSuffix(got, "/eu-west-1/kafka-cluster/aws4_request") {
			t.Errorf("credential: got %s, want AKIASTATIC/<date>/eu-west-1/kafka-cluster/aws4_request", got)
		}
	})

	t.Run("default chain", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENV")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
		k := Kafka{SASL: &SASL{Mechanism: MechanismMSKIAM, AWS: &KafkaAWS{Source: "default", Region: "eu-west-1"}}}
		msg, err := firstMessage(t, k, mskHost)
		if err != nil {
			t.Fatal(err)
		}
		if got := mskCredential(t, msg); !strings.HasPrefix(got, "AKIAFROMENV/") {
			t.Errorf("credential: got %s, want the environment's AKIAFROMENV", got)
		}
	})

	t.Run("assume role", func(t *testing.T) {
		// A fake STS on loopback: AssumeRole must be asked for the configured
		// role with the external id, and its credentials must sign.
		var mu sync.Mutex
		var form url.Values
		sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			form, _ = url.ParseQuery(string(b))
			mu.Unlock()
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprintf(w, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<Credentials><AccessKeyId>ASIAASSUMED</AccessKeyId><SecretAccessKey>assumed-secret</SecretAccessKey>
<SessionToken>assumed-token</SessionToken><Expiration>%s</Expiration></Credentials>
<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/kafka/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
</AssumeRoleResult></AssumeRoleResponse>`, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		}))
		defer sts.Close()
		t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIABASE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "base-secret")
		t.Setenv("TEST_EXTERNAL", "ext-42")
		k := Kafka{SASL: &SASL{Mechanism: MechanismMSKIAM, AWS: &KafkaAWS{Source: "assume_role", Region: "eu-west-1",
			RoleARN: "arn:aws:iam::123456789012:role/kafka", ExternalID: Secret{Env: "TEST_EXTERNAL"}, SessionName: "auditstream-router"}}}
		msg, err := firstMessage(t, k, mskHost)
		if err != nil {
			t.Fatal(err)
		}
		if got := mskCredential(t, msg); !strings.HasPrefix(got, "ASIAASSUMED/") {
			t.Errorf("credential: got %s, want the assumed role's ASIAASSUMED", got)
		}
		if !strings.Contains(msg, `"x-amz-security-token":"assumed-token"`) {
			t.Errorf("payload %s lacks the session token", msg)
		}
		mu.Lock()
		defer mu.Unlock()
		for key, want := range map[string]string{"Action": "AssumeRole", "RoleArn": "arn:aws:iam::123456789012:role/kafka", "ExternalId": "ext-42", "RoleSessionName": "auditstream-router"} {
			if got := form.Get(key); got != want {
				t.Errorf("STS %s: got %q, want %q", key, got, want)
			}
		}
	})
}

func TestExplain(t *testing.T) {
	k := Kafka{Brokers: []string{"kafka-1:9094"}, TLS: &TLS{CAFile: "/etc/kafka/ca.pem"},
		SASL: &SASL{Mechanism: MechanismScramSHA512, Username: "router", Password: Secret{File: "/run/secrets/kafka"}}}
	plainK := Kafka{Brokers: []string{"kafka-1:9092"}}
	for _, tc := range []struct {
		name string
		k    Kafka
		err  error
		want string // "" means: not a configuration problem
	}{
		{"wrong password", k, fmt.Errorf("x: %w", kerr.SaslAuthenticationFailed),
			"kafka at kafka-1:9094: the broker rejected the SCRAM-SHA-512 credentials: check kafka.sasl.username (router) and the password in file:/run/secrets/kafka"},
		{"sasl on plaintext", k, kerr.IllegalSaslState, "the listener does not speak SASL: remove kafka.sasl, or point kafka.brokers to the SASL listener"},
		{"untrusted", k, fmt.Errorf("unable to dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}),
			"the broker's certificate is not signed by a trusted CA: kafka.tls.ca_file (/etc/kafka/ca.pem) must hold the CA"},
		{"mtls without a certificate", k, errors.New("remote error: tls: bad certificate"), "the listener requires a client certificate (mTLS)"},
		{"plaintext to tls", plainK, errors.New("invalid large response size 352518912 > limit 104857600; the first three bytes received appear to be a tls alert record for TLS v1.2; is this a plaintext connection speaking to a tls endpoint?"),
			"the listener speaks TLS: set kafka.tls"},
		{"unreadable password", k, &secretError{what: "password", err: errors.New("secret file /x: no such file or directory")}, "a SASL credential could not be read"},
		{"refused", k, fmt.Errorf("unable to dial: %w", syscall.ECONNREFUSED), ""},
		{"closed client", k, kgo.ErrClientClosed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := tc.k.Explain(tc.err)
			switch {
			case tc.want == "" && ae != nil:
				t.Errorf("got %v, want nil (not a configuration problem)", ae)
			case tc.want != "" && (ae == nil || !strings.Contains(ae.Error(), tc.want)):
				t.Errorf("got %v, want it to contain %q", ae, tc.want)
			case ae != nil && !errors.Is(ae, tc.err):
				t.Errorf("the AccessError does not wrap the client's error")
			}
		})
	}
}

// scramProof answers a SCRAM client-first message and checks that the
// client's proof is the one of password. It returns a problem, or "".
func scramProof(t *testing.T, mech string, sess sasl.Session, clientFirst []byte, password string) string {
	t.Helper()
	h := sha256.New
	if mech == MechanismScramSHA512 {
		h = sha512.New
	}
	bare := strings.TrimPrefix(string(clientFirst), "n,,")
	_, nonce, _ := strings.Cut(bare, ",r=")
	salt := []byte("0123456789abcdef")
	serverFirst := "r=" + nonce + "srv,s=" + base64.StdEncoding.EncodeToString(salt) + ",i=4096"
	_, final, err := sess.Challenge([]byte(serverFirst))
	if err != nil {
		return fmt.Sprintf("challenge: %v", err)
	}
	withoutProof, proof, ok := strings.Cut(string(final), ",p=")
	if !ok {
		return fmt.Sprintf("client-final %q has no proof", final)
	}
	salted, err := pbkdf2.Key(h, password, salt, 4096, h().Size())
	if err != nil {
		return err.Error()
	}
	mac := func(key []byte, s string) []byte { m := hmac.New(h, key); m.Write([]byte(s)); return m.Sum(nil) }
	clientKey := mac(salted, "Client Key")
	stored := h()
	stored.Write(clientKey)
	sig := mac(stored.Sum(nil), bare+","+serverFirst+","+withoutProof)
	for i := range sig {
		sig[i] ^= clientKey[i]
	}
	if want := base64.StdEncoding.EncodeToString(sig); proof != want {
		return fmt.Sprintf("%s proof is not the one of the password %q now in the file", mech, password)
	}
	return ""
}

// TestCheckAccessUnreachable: a cluster that does not answer is not a
// configuration error; the check logs it and lets the service start, whose
// client keeps retrying.
func TestCheckAccessUnreachable(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	// Port 1 on loopback: connection refused at once, on every try.
	k := Kafka{Brokers: []string{"127.0.0.1:1"}}
	if err := k.CheckAccess(ctx, log); err != nil {
		t.Fatalf("got %v, want nil: an unreachable cluster is retried, not refused", err)
	}
	if !strings.Contains(logs.String(), "kafka is not reachable yet") || !strings.Contains(logs.String(), "127.0.0.1:1") {
		t.Errorf("log: got %q, want a warning naming the brokers", logs.String())
	}
}
