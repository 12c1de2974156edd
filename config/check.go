package config

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// AccessError is a Kafka connection that fails because of the connection
// settings, not because the cluster is down: a rejected password, an
// untrusted certificate, a listener that speaks another protocol. Retrying
// cannot fix it; the message says what to change.
type AccessError struct {
	// Brokers are the addresses tried.
	Brokers []string
	// Problem is what went wrong, Fix what to change, in words.
	Problem, Fix string
	// Err is the client's error.
	Err error
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("kafka at %s: %s: %s (%v)", strings.Join(e.Brokers, ","), e.Problem, e.Fix, e.Err)
}

func (e *AccessError) Unwrap() error { return e.Err }

// DefaultCheckTimeout bounds CheckAccess.
const DefaultCheckTimeout = 10 * time.Second

// CheckAccess connects to the cluster once, as every service does before it
// starts its work, so that a connection that can never succeed stops the
// service at once with what to fix (an *AccessError), instead of retrying in
// the background with a cryptic broker error. A cluster that is merely not
// reachable yet is not an error here: it is logged, and the service's own
// client keeps retrying, as it would without the check.
func (k Kafka) CheckAccess(ctx context.Context, log *slog.Logger) error {
	opts, err := k.ClientOpts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, DefaultCheckTimeout)
	defer cancel()
	var eofs int
	for {
		err := cl.Ping(ctx)
		if err == nil {
			return nil
		}
		ae := k.Explain(err)
		var first *kgo.ErrFirstReadEOF
		switch {
		// A closed connection is also what a broker that is shutting down
		// does: take it for a protocol mismatch only when it repeats.
		case ae != nil && errors.As(err, &first):
			if eofs++; eofs >= 3 {
				return ae
			}
		case ae != nil:
			return ae
		}
		select {
		case <-ctx.Done():
			if log != nil {
				log.Warn("kafka is not reachable yet; the client keeps retrying", "brokers", strings.Join(k.Brokers, ","), "err", err)
			}
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Explain says what to fix when err, from a client built by ClientOpts,
// comes from the connection settings. It returns nil for other errors (an
// unreachable or overloaded cluster).
func (k Kafka) Explain(err error) *AccessError {
	if err == nil {
		return nil
	}
	ae := &AccessError{Brokers: k.Brokers, Err: err}
	mech := ""
	if k.SASL != nil {
		mech = k.SASL.Mechanism
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		first     *kgo.ErrFirstReadEOF
		secret    *secretError
	)
	// The TLS alerts a broker sends come as crypto/tls's unexported alert
	// type, and a TLS answer to a plaintext request as franz-go's plain
	// error: only their text tells them apart.
	msg := err.Error()
	switch {
	case errors.As(err, &secret):
		ae.Problem = "a SASL credential could not be read"
		ae.Fix = "check the secret reference under kafka.sasl"
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		ae.Problem = fmt.Sprintf("the broker rejected the %s credentials", mech)
		switch mech {
		case MechanismOAuthBearer:
			ae.Fix = "check the token in kafka.sasl.oauth.token (expired? an audience or issuer the broker does not accept?)"
		case MechanismMSKIAM:
			ae.Fix = "check the AWS credentials in kafka.sasl.aws and that their IAM policy allows kafka-cluster:Connect"
		default:
			ae.Fix = fmt.Sprintf("check kafka.sasl.username (%s) and the password in %s", k.SASL.Username, k.SASL.Password)
		}
	case errors.Is(err, kerr.IllegalSaslState):
		ae.Problem = "the listener does not speak SASL"
		ae.Fix = "remove kafka.sasl, or point kafka.brokers to the SASL listener"
	case errors.Is(err, kerr.UnsupportedSaslMechanism):
		ae.Problem = fmt.Sprintf("the listener does not enable the %s mechanism", mech)
		ae.Fix = "set kafka.sasl.mechanism to one the listener enables (its sasl.enabled.mechanisms), or point kafka.brokers to another listener"
	case errors.As(err, &unknownCA):
		ae.Problem = "the broker's certificate is not signed by a trusted CA"
		if k.TLS != nil && k.TLS.CAFile != "" {
			ae.Fix = fmt.Sprintf("kafka.tls.ca_file (%s) must hold the CA that signed the broker's certificate", k.TLS.CAFile)
		} else {
			ae.Fix = "set kafka.tls.ca_file to the CA that signed the broker's certificate"
		}
	case errors.As(err, &hostname):
		ae.Problem = "the broker's certificate is not valid for the address dialled"
		ae.Fix = "use a broker address named in the certificate, or set kafka.tls.server_name to one"
	case errors.As(err, &invalid):
		ae.Problem = "the broker's certificate is not valid"
		ae.Fix = "renew the broker's certificate, or check this machine's clock"
	case tlsAlert(msg) && (k.TLS == nil || k.TLS.CertFile == ""):
		ae.Problem = "the listener requires a client certificate (mTLS)"
		ae.Fix = "set kafka.tls.cert_file and kafka.tls.key_file"
	case tlsAlert(msg):
		ae.Problem = "the broker refused the client certificate"
		ae.Fix = "kafka.tls.cert_file must be signed by a CA in the broker's truststore, and be valid now"
	case strings.Contains(msg, "plaintext connection speaking to a tls endpoint"):
		ae.Problem = "the listener speaks TLS"
		if k.SASL == nil {
			ae.Fix = "set kafka.tls (with kafka.sasl too if it is a SASL_SSL listener), or point kafka.brokers to a plaintext listener"
		} else {
			ae.Fix = "set kafka.tls (ca_file: the CA of the brokers' certificates)"
		}
	case errors.As(err, &record):
		ae.Problem = "the listener does not speak TLS"
		ae.Fix = "remove kafka.tls, or point kafka.brokers to the TLS listener"
	case errors.As(err, &first):
		switch {
		case k.SASL == nil && strings.Contains(msg, "SASL is required"):
			ae.Problem = "the listener requires SASL"
			ae.Fix = "set kafka.sasl (mechanism, username, password), or point kafka.brokers to a listener without SASL"
		case k.TLS != nil && strings.Contains(msg, "after a dial"):
			ae.Problem = "the broker closed the connection during the TLS handshake"
			ae.Fix = "the listener does not speak TLS: remove kafka.tls, or point kafka.brokers to the TLS listener"
		default:
			ae.Problem = "the broker closed the connection at the first request"
			ae.Fix = "the listener may require TLS (kafka.tls) or SASL (kafka.sasl) that this configuration does not give"
		}
	case errors.Is(err, syscall.ECONNRESET) && k.SASL != nil:
		// A SASL_SSL listener reached without TLS resets the connection
		// after the SASL handshake request.
		ae.Problem = "the broker reset the connection during SASL"
		ae.Fix = "the listener may require TLS: set kafka.tls"
	default:
		return nil
	}
	return ae
}

// tlsAlert says whether msg is a TLS alert about the client's certificate:
// sent when the listener requires one (ssl.client.auth=required) and got
// none, or does not trust the one it got.
func tlsAlert(msg string) bool {
	for _, a := range []string{"tls: bad certificate", "tls: certificate required", "tls: unknown certificate authority", "tls: certificate unknown", "tls: expired certificate", "tls: revoked certificate", "tls: unsupported certificate"} {
		if strings.Contains(msg, "remote error: "+a) {
			return true
		}
	}
	return false
}
