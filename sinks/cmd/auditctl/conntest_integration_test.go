//go:build integration

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/auditstream/auditstream/sinks/internal/conntest"
	"github.com/auditstream/auditstream/stack/proctest"
)

// readOnlyCredentials returns temporary credentials from MinIO's STS
// whose session policy allows s3:GetObject and s3:ListBucket only.
func readOnlyCredentials(t *testing.T, st *s3Store) (id, secret, token string) {
	t.Helper()
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(st.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(proctest.ReadFile(t, st.akFile), proctest.ReadFile(t, st.skFile), "")})
	out, err := c.AssumeRole(context.Background(), &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:minio:iam:::role/ctl-test"), RoleSessionName: aws.String("ctl-test"),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
			`"Action":["s3:GetObject","s3:ListBucket","s3:GetBucketLocation","s3:GetBucketObjectLockConfiguration"],"Resource":["arn:aws:s3:::*"]}]}`),
	})
	if err != nil {
		t.Fatalf("assume a read-only role: %v", err)
	}
	cr := out.Credentials
	return aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken)
}

// TestConnectorTest: auditctl test against MinIO and the intake test
// server passes on good settings (with and without Object Lock), and for
// each broken setting fails at the right step with the right kind of
// problem and exit status: a wrong secret key, a missing bucket, Object
// Lock required by the connector but not enabled on the bucket, valid
// credentials without s3:PutObject, https to a plain-http endpoint, an
// endpoint where nothing listens, a name that does not resolve, a
// Datadog key the intake refuses.
func TestConnectorTest(t *testing.T) {
	tp := newTopics(t)
	plain, locked := newBucket(t, false), newBucket(t, true)
	in := startIntake(t)
	wrongSecret := filepath.Join(t.TempDir(), "wrong-secret")
	if err := os.WriteFile(wrongSecret, []byte("not-the-secret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3 := func(id string, st *s3Store, edit func(string) string, extra string) string {
		block := st.connectorYAML("ct")
		if edit != nil {
			block = edit(block)
		}
		return fmt.Sprintf("  - id: %s\n    type: s3\n%s%s", id, block, extra)
	}
	lock := "      object_lock: {mode: governance, days: 1}\n"
	cfg := writeConfig(t, tp.header(t, "127.0.0.1:0")+
		s3("good", plain, nil, "")+
		s3("good-lock", locked, nil, lock)+
		s3("wrong-key", plain, func(b string) string {
			return strings.Replace(b, "secret_access_key: {file: "+plain.skFile, "secret_access_key: {file: "+wrongSecret, 1)
		}, "")+
		s3("no-bucket", plain, func(b string) string {
			return strings.Replace(b, "bucket: "+plain.bucket, "bucket: "+plain.bucket+"-missing", 1)
		}, "")+
		s3("lock-absent", plain, nil, lock)+
		s3("refused", plain, func(b string) string { return strings.Replace(b, plain.endpoint, "http://"+proctest.FreeAddr(t), 1) }, "")+
		s3("no-dns", plain, func(b string) string {
			return strings.Replace(b, plain.endpoint, "http://auditstream-no-such-host.invalid:9000", 1)
		}, "")+
		s3("tls", plain, func(b string) string {
			return strings.Replace(b, "endpoint: http://", "endpoint: https://", 1)
		}, "")+
		s3("no-put", plain, func(b string) string {
			i := strings.Index(b, "      credentials:")
			return b[:i] + "      credentials: {source: default}\n"
		}, "")+
		"  - id: dd-good\n    type: datadog\n"+ddYAML(t, in, ddKey)+
		"  - id: dd-bad-key\n    type: datadog\n"+ddYAML(t, in, "a-key-the-intake-refuses-0123456789"))

	for _, tc := range []struct {
		id      string
		code    int
		step    string
		problem string
	}{
		{"good", exitOK, "", ""},
		{"good-lock", exitOK, "", ""},
		{"wrong-key", exitProblem, "put", conntest.ProblemAuth},
		{"no-bucket", exitProblem, "bucket", conntest.ProblemBucket},
		{"lock-absent", exitProblem, "object lock", conntest.ProblemLock},
		{"refused", exitUnreachable, "bucket", conntest.ProblemConnect},
		{"no-dns", exitUnreachable, "bucket", conntest.ProblemDNS},
		{"tls", exitUnreachable, "bucket", conntest.ProblemTLS},
		{"no-put", exitProblem, "put", conntest.ProblemPermission},
		{"dd-good", exitOK, "", ""},
		{"dd-bad-key", exitProblem, "send log", conntest.ProblemAuth},
	} {
		t.Run(tc.id, func(t *testing.T) {
			if tc.id == "no-put" {
				// Valid credentials whose session policy allows reading
				// and listing, not writing (MinIO's STS AssumeRole).
				id, secret, token := readOnlyCredentials(t, plain)
				t.Setenv("AWS_ACCESS_KEY_ID", id)
				t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
				t.Setenv("AWS_SESSION_TOKEN", token)
			}
			code, out, errs := ctl(t, "test", "--config", cfg, "--connector", tc.id, "--json")
			var v conntest.Verdict
			jsonOut(t, out, &v)
			if code != tc.code || v.Failed != tc.step || v.Problem != tc.problem || v.OK != (tc.code == exitOK) {
				t.Fatalf("got exit %d, step %q, problem %q; want %d, %q, %q\n%s%s", code, v.Failed, v.Problem, tc.code, tc.step, tc.problem, out, errs)
			}
			if strings.Contains(out, proctest.ReadFile(t, plain.skFile)) || strings.Contains(out, ddKey) {
				t.Fatal("the verdict quotes a secret")
			}
			t.Logf("%s: %s", tc.id, v.Message)
		})
	}
	// The good tests left evidence: the S3 markers (deleted, unless
	// locked) were read back; the intake holds one log tagged
	// auditstream:test, and nothing else.
	logs := in.Logs()
	if len(logs) != 1 || !strings.Contains(logs[0].Tags, "auditstream:test") || !strings.Contains(logs[0].Tags, "env:ctl") {
		t.Fatalf("the intake holds %d logs, want 1 tagged auditstream:test: %+v", len(logs), logs)
	}
	code, text, _ := ctl(t, "test", "--config", cfg, "--connector", "lock-absent")
	if code != exitProblem || !strings.Contains(text, "FAIL at object lock (lock configuration)") {
		t.Fatalf("text verdict (exit %d):\n%s", code, text)
	}
}
