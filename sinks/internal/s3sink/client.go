package s3sink

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// The SDK's own retries. They absorb a dropped connection or a single 503,
// and stop there: the sink runtime retries a failed batch forever with its
// own backoff, and reports the outage (not ready, retry metrics) meanwhile.
// Longer SDK retries would only hide an outage from it.
const (
	sdkMaxAttempts = 3
	sdkMaxBackoff  = 2 * time.Second
)

// newClient builds the S3 client of a connector: region, endpoint and
// addressing, credentials, and retries. It reads the credentials' secrets
// but contacts nothing.
func newClient(ctx context.Context, s *Config, hc *http.Client) (*s3.Client, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRegion(s.Region),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = sdkMaxAttempts
				o.MaxBackoff = sdkMaxBackoff
				// The client-side retry quota would turn a long outage into
				// no retries at all; the attempts above bound it already.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if hc != nil {
		opts = append(opts, awsconfig.WithHTTPClient(hc))
	}
	cr := s.Credentials
	switch cr.Source {
	case "", "default", "assume_role":
	case "static":
		id, err := cr.AccessKeyID.Resolve()
		if err != nil {
			return nil, fmt.Errorf("s3 access_key_id: %w", err)
		}
		secret, err := cr.SecretAccessKey.Resolve()
		if err != nil {
			return nil, fmt.Errorf("s3 secret_access_key: %w", err)
		}
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, "")))
	default:
		return nil, fmt.Errorf("unknown s3 credentials source %q", cr.Source)
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	if cr.Source == "assume_role" {
		// The role is assumed with the default chain's credentials, through
		// STS's own endpoint (AWS_ENDPOINT_URL_STS overrides it), not the
		// S3 endpoint.
		var external *string
		if cr.ExternalID.IsSet() {
			v, err := cr.ExternalID.Resolve()
			if err != nil {
				return nil, fmt.Errorf("s3 external_id: %w", err)
			}
			external = aws.String(v)
		}
		p := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), cr.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.ExternalID = external
			o.RoleSessionName = cr.SessionName
		})
		cfg.Credentials = aws.NewCredentialsCache(p)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
		o.UsePathStyle = s.PathStyle
	}), nil
}
