package config

import (
	"context"
	"fmt"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SASL mechanisms a pipeline file can name.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
	MechanismOAuthBearer = "OAUTHBEARER"
	MechanismMSKIAM      = "AWS_MSK_IAM"
)

// Mechanisms lists them, for messages.
var Mechanisms = []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512, MechanismOAuthBearer, MechanismMSKIAM}

// OAuth is an OAUTHBEARER login with a token obtained outside Auditstream
// (a projected service-account token, an identity provider's agent). The
// token is read again for every new connection, so a token file that its
// issuer refreshes is picked up.
type OAuth struct {
	Token Secret `yaml:"token"`
	// Extensions are sent with the token (KIP-342), e.g. logicalCluster.
	Extensions map[string]string `yaml:"extensions"`
}

// KafkaAWS is an AWS_MSK_IAM login. Source is "default" (the AWS default
// chain: environment, shared files, IRSA, instance role), "static"
// (AccessKeyID and SecretAccessKey) or "assume_role" (RoleARN and
// ExternalID, on top of the default chain).
type KafkaAWS struct {
	Region          string `yaml:"region"`
	Source          string `yaml:"source"`
	AccessKeyID     Secret `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
	SessionToken    Secret `yaml:"session_token"`
	RoleARN         string `yaml:"role_arn"`
	ExternalID      Secret `yaml:"external_id"`
	SessionName     string `yaml:"session_name"`
}

// secretError is a secret that could not be read while connecting. Check
// reports it as a configuration problem, not as an unreachable cluster.
type secretError struct {
	what string
	err  error
}

func (e *secretError) Error() string { return fmt.Sprintf("kafka sasl %s: %v", e.what, e.err) }
func (e *secretError) Unwrap() error { return e.err }

// SASLMechanism builds the SASL mechanism, or returns nil when SASL is off.
// Every mechanism is franz-go's callback form: the password, token or AWS
// credentials are fetched for each new connection, never kept from start.
func (k Kafka) SASLMechanism() (sasl.Mechanism, error) {
	s := k.SASL
	if s == nil {
		return nil, nil
	}
	password := func() (string, error) {
		pw, err := s.Password.Resolve()
		if err != nil {
			return "", &secretError{what: "password", err: err}
		}
		return pw, nil
	}
	switch s.Mechanism {
	case MechanismPlain:
		return plain.Plain(func(context.Context) (plain.Auth, error) {
			pw, err := password()
			return plain.Auth{User: s.Username, Pass: pw}, err
		}), nil
	case MechanismScramSHA256, MechanismScramSHA512:
		auth := func(context.Context) (scram.Auth, error) {
			pw, err := password()
			return scram.Auth{User: s.Username, Pass: pw}, err
		}
		if s.Mechanism == MechanismScramSHA256 {
			return scram.Sha256(auth), nil
		}
		return scram.Sha512(auth), nil
	case MechanismOAuthBearer:
		if s.OAuth == nil {
			return nil, fmt.Errorf("kafka sasl: OAUTHBEARER needs an oauth block")
		}
		o := *s.OAuth
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			tok, err := o.Token.Resolve()
			if err != nil {
				return oauth.Auth{}, &secretError{what: "oauth token", err: err}
			}
			return oauth.Auth{Token: tok, Extensions: o.Extensions}, nil
		}), nil
	case MechanismMSKIAM:
		if s.AWS == nil {
			return nil, fmt.Errorf("kafka sasl: AWS_MSK_IAM needs an aws block")
		}
		creds, err := s.AWS.credentials(context.Background())
		if err != nil {
			return nil, err
		}
		return aws.ManagedStreamingIAM(func(ctx context.Context) (aws.Auth, error) {
			c, err := creds.Retrieve(ctx)
			if err != nil {
				return aws.Auth{}, &secretError{what: "aws credentials", err: err}
			}
			return aws.Auth{AccessKey: c.AccessKeyID, SecretKey: c.SecretAccessKey, SessionToken: c.SessionToken, UserAgent: "auditstream"}, nil
		}), nil
	}
	return nil, fmt.Errorf("kafka sasl: unknown mechanism %q", s.Mechanism)
}

// credentials returns the AWS credentials provider of the configured
// source, cached and refreshed before expiry by the SDK. Static secrets are
// read again at each refresh; nothing here touches the network.
func (a *KafkaAWS) credentials(ctx context.Context) (awssdk.CredentialsProvider, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if a.Region != "" {
		opts = append(opts, awsconfig.WithRegion(a.Region))
	}
	switch a.Source {
	case "static":
		return awssdk.NewCredentialsCache(awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
			id, err := a.AccessKeyID.Resolve()
			if err != nil {
				return awssdk.Credentials{}, fmt.Errorf("access_key_id: %w", err)
			}
			key, err := a.SecretAccessKey.Resolve()
			if err != nil {
				return awssdk.Credentials{}, fmt.Errorf("secret_access_key: %w", err)
			}
			var tok string
			if a.SessionToken.IsSet() {
				if tok, err = a.SessionToken.Resolve(); err != nil {
					return awssdk.Credentials{}, fmt.Errorf("session_token: %w", err)
				}
			}
			return credentials.NewStaticCredentialsProvider(id, key, tok).Retrieve(ctx)
		})), nil
	case "default", "assume_role":
		cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("kafka sasl aws: load the AWS configuration: %w", err)
		}
		if a.Source == "default" {
			return cfg.Credentials, nil
		}
		var external string
		if a.ExternalID.IsSet() {
			if external, err = a.ExternalID.Resolve(); err != nil {
				return nil, fmt.Errorf("kafka sasl aws external_id: %w", err)
			}
		}
		p := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			if external != "" {
				o.ExternalID = &external
			}
			if a.SessionName != "" {
				o.RoleSessionName = a.SessionName
			}
		})
		return awssdk.NewCredentialsCache(p), nil
	}
	return nil, fmt.Errorf("kafka sasl aws: unknown source %q (want default, static or assume_role)", a.Source)
}
