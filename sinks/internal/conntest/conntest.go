// Package conntest proves that a connector's destination accepts a write
// with the configured credentials, encryption and lock settings, as the
// "test connector" button of a hosted console does, without touching any
// Kafka topic. It names the step that failed and the kind of problem.
package conntest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/ddsink"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
)

// Problems: the kind of failure, for the verdict.
const (
	ProblemConfig      = "configuration"
	ProblemDNS         = "dns"
	ProblemConnect     = "connect"
	ProblemTimeout     = "timeout"
	ProblemTLS         = "tls"
	ProblemAuth        = "auth"       // credentials rejected: wrong key, bad signature, expired token
	ProblemPermission  = "permission" // credentials accepted, the action denied (IAM or bucket policy)
	ProblemBucket      = "bucket missing"
	ProblemLock        = "lock configuration"
	ProblemEncryption  = "encryption"
	ProblemRejected    = "rejected"
	ProblemDestination = "destination error"
)

// Step is one step of a test.
type Step struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Verdict is a test's result.
type Verdict struct {
	Connector string `json:"connector"`
	Type      string `json:"type"`
	OK        bool   `json:"ok"`
	Steps     []Step `json:"steps"`
	// Failed is the step that failed, Problem its kind and Message what
	// to look at.
	Failed  string `json:"failed_step,omitempty"`
	Problem string `json:"problem,omitempty"`
	Message string `json:"message,omitempty"`
	// Marker is the S3 key written.
	Marker string `json:"marker,omitempty"`
}

// Run tests the connector's destination.
func Run(ctx context.Context, c *config.Connector, log *slog.Logger) *Verdict {
	v := &Verdict{Connector: c.ID, Type: string(c.Type)}
	switch c.Type {
	case config.TypeS3:
		testS3(ctx, c, log, v)
	case config.TypeDatadog:
		testDatadog(ctx, c, log, v)
	default:
		v.fail("setup", ProblemConfig, fmt.Sprintf("unknown connector type %q", c.Type))
	}
	return v
}

func (v *Verdict) fail(step, problem, msg string) {
	v.OK, v.Failed, v.Problem, v.Message = false, step, problem, msg
}

func testS3(ctx context.Context, c *config.Connector, log *slog.Logger, v *Verdict) {
	w, err := s3sink.New(ctx, s3sink.Options{Connector: c, Log: log})
	if err != nil {
		v.Steps = append(v.Steps, Step{Name: "setup", Detail: err.Error()})
		v.fail("setup", ProblemConfig, err.Error())
		return
	}
	key, steps := w.ConnectorTest(ctx)
	v.Marker = key
	for _, s := range steps {
		st := Step{Name: s.Name, OK: s.Err == nil, Detail: s.Detail}
		if s.Err != nil {
			problem, msg := classifyS3(s.Name, s.Err)
			st.Detail = strings.TrimSpace(s.Detail + ": " + msg)
			v.Steps = append(v.Steps, st)
			v.fail(s.Name, problem, msg)
			return
		}
		v.Steps = append(v.Steps, st)
	}
	v.OK = true
}

// classifyS3 names the kind of an S3 step's failure.
func classifyS3(step string, err error) (problem, msg string) {
	if p, m, ok := classifyNet(err); ok {
		return p, m
	}
	if errors.Is(err, s3sink.ErrLockNotEnabled) {
		return ProblemLock, err.Error()
	}
	code, status, brief := s3sink.ErrorCode(err), s3sink.HTTPStatus(err), s3sink.Brief(err)
	switch code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId", "TokenRefreshRequired":
		return ProblemAuth, "the credentials were refused (" + brief + "): check access_key_id and secret_access_key, or the role"
	case "AccessDenied", "AllAccessDisabled", "AccountProblem":
		return ProblemPermission, "access denied during " + step + " (" + brief + "): the credentials are valid but an IAM or bucket policy denies it; the sink needs s3:PutObject, s3:GetObject and s3:ListBucket" +
			lockPermission(step)
	case "NoSuchBucket":
		return ProblemBucket, "the bucket does not exist (" + brief + ")"
	case "InvalidRequest", "InvalidBucketState", "ObjectLockConfigurationNotFoundError":
		if strings.Contains(strings.ToLower(brief), "lock") {
			return ProblemLock, brief
		}
	case "KMS.NotFoundException", "KMS.DisabledException", "KMSAccessDeniedException", "KMS.KMSInvalidStateException", "NotImplemented":
		return ProblemEncryption, "the encryption settings were refused (" + brief + ")"
	}
	if strings.Contains(code, "KMS") {
		return ProblemEncryption, "the encryption settings were refused (" + brief + ")"
	}
	switch {
	case status == 404 && step == s3sink.StepBucket:
		return ProblemBucket, "the bucket does not exist (HEAD answered 404)"
	case status == 403:
		return ProblemPermission, "access denied during " + step + " (" + brief + ")"
	case status >= 500:
		return ProblemDestination, "the store failed (" + brief + ")"
	case step == s3sink.StepReadBack && code == "":
		return ProblemDestination, err.Error()
	}
	return ProblemDestination, brief
}

func lockPermission(step string) string {
	if step == s3sink.StepPut {
		return " (plus s3:PutObjectRetention with Object Lock, kms:GenerateDataKey with SSE-KMS)"
	}
	return ""
}

func testDatadog(ctx context.Context, c *config.Connector, log *slog.Logger, v *Verdict) {
	w, err := ddsink.New(ddsink.Options{Connector: c, Log: log})
	if err != nil {
		v.Steps = append(v.Steps, Step{Name: "setup", Detail: err.Error()})
		v.fail("setup", ProblemConfig, err.Error())
		return
	}
	res := w.ConnectorTest(ctx)
	const step = "send log"
	st := Step{Name: step, Detail: fmt.Sprintf("one log tagged %s to %s", ddsink.TestTag, res.Endpoint)}
	switch {
	case res.Code == 202:
		st.OK = true
		st.Detail += ": 202 Accepted"
		v.Steps = append(v.Steps, st)
		v.OK = true
		return
	case res.Code == 0:
		problem, msg := ProblemDestination, fmt.Sprint(res.Err)
		if p, m, ok := classifyNet(res.Err); ok {
			problem, msg = p, m
		}
		v.fail(step, problem, msg)
	case res.Code == 401 || res.Code == 403:
		v.fail(step, ProblemAuth, fmt.Sprintf("the intake refused the API key (%d): check api_key and the site: %s", res.Code, res.Detail))
	case res.Code >= 500 || res.Code == 408 || res.Code == 429:
		v.fail(step, ProblemDestination, fmt.Sprintf("the intake answered %d: %s", res.Code, res.Detail))
	case res.Code >= 200 && res.Code < 300:
		v.fail(step, ProblemRejected, fmt.Sprintf("the intake answered %d, not 202: is the url a Datadog logs intake? %s", res.Code, res.Detail))
	default:
		v.fail(step, ProblemRejected, fmt.Sprintf("the intake answered %d: %s", res.Code, res.Detail))
	}
	st.Detail += ": " + v.Message
	v.Steps = append(v.Steps, st)
}

// Unreachable reports whether err is a network-level failure (name
// resolution, connection, timeout, TLS) rather than an answer of the
// destination, and says which in plain words.
func Unreachable(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	_, msg, ok := classifyNet(err)
	return msg, ok
}

// classifyNet names network-level failures: name resolution, connection,
// timeout, TLS.
func classifyNet(err error) (problem, msg string, ok bool) {
	var (
		dns      *net.DNSError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		urlErr   *url.Error
	)
	switch {
	case errors.As(err, &dns):
		return ProblemDNS, fmt.Sprintf("cannot resolve %s: %v", dns.Name, dns.Err), true
	case errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return ProblemTLS, "the server's certificate is not trusted: " + rootCause(err), true
	case errors.As(err, &record):
		return ProblemTLS, "the server does not speak TLS there (is the url http?): " + rootCause(err), true
	case errors.Is(err, syscall.ECONNREFUSED):
		var op *net.OpError
		if errors.As(err, &op) && op.Addr != nil {
			return ProblemConnect, "nothing accepts connections at " + op.Addr.String() + " (connection refused)", true
		}
		return ProblemConnect, "connection refused", true
	case errors.Is(err, context.DeadlineExceeded):
		return ProblemTimeout, "no answer in time: " + rootCause(err), true
	case errors.As(err, &urlErr) && urlErr.Timeout():
		return ProblemTimeout, "no answer in time: " + rootCause(err), true
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		// net/http keeps the TLS record error to itself.
		return ProblemTLS, "the server answered in plain HTTP to a TLS handshake: the endpoint says https, the server speaks http", true
	case strings.Contains(err.Error(), "tls: "), strings.Contains(err.Error(), "x509: "):
		return ProblemTLS, rootCause(err), true
	}
	return "", "", false
}

// rootCause is the innermost error's message.
func rootCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
