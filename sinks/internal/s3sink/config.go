package s3sink

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/auditstream/auditstream/config"
)

// Config is an S3 connector's block of the pipeline file (s3:). This
// package owns it: its keys, defaults, checks and secrets (Destination).
type Config struct {
	Bucket       string      `yaml:"bucket"`
	Region       string      `yaml:"region"`
	Prefix       string      `yaml:"prefix"`
	Endpoint     string      `yaml:"endpoint"`
	PathStyle    bool        `yaml:"path_style"`
	StorageClass string      `yaml:"storage_class"`
	Credentials  Credentials `yaml:"credentials"`
	Encryption   Encryption  `yaml:"encryption"`
	ObjectLock   *ObjectLock `yaml:"object_lock"`
}

// Credentials chooses how the sink authenticates. Source is "default"
// (the AWS default chain), "static" (AccessKeyID and SecretAccessKey) or
// "assume_role" (RoleARN and ExternalID, on top of the default chain).
type Credentials struct {
	Source          string        `yaml:"source"`
	AccessKeyID     config.Secret `yaml:"access_key_id"`
	SecretAccessKey config.Secret `yaml:"secret_access_key"`
	RoleARN         string        `yaml:"role_arn"`
	ExternalID      config.Secret `yaml:"external_id"`
	SessionName     string        `yaml:"session_name"`
}

// Encryption is "none", "sse-s3" or "sse-kms" (with KMSKeyID).
type Encryption struct {
	Mode     string `yaml:"mode"`
	KMSKeyID string `yaml:"kms_key_id"`
}

// ObjectLock puts a retention on every object: WORM archives.
type ObjectLock struct {
	// Mode is "governance" or "compliance".
	Mode string `yaml:"mode"`
	Days int    `yaml:"days"`
}

// Destination decodes and checks the s3 blocks of a pipeline file: pass
// it to config.Load (config.WithDestinations).
type Destination struct{}

// Type is s3.
func (Destination) Type() config.ConnectorType { return config.TypeS3 }

// Decode decodes, defaults and checks the connector's s3 block, and
// registers its secrets (static keys, external id) as the connector's.
func (Destination) Decode(b *config.Block) {
	var s Config
	if !b.Decode(&s) {
		return
	}
	s.applyDefaults()
	if len(s.Bucket) < 3 || len(s.Bucket) > 63 {
		b.At(fmt.Sprintf("bad bucket name %q: 3 to 63 characters", s.Bucket), "bucket")
	}
	if s.Endpoint != "" {
		if u, err := url.Parse(s.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			b.At(fmt.Sprintf("bad endpoint %q: want a URL such as http://127.0.0.1:9000", s.Endpoint), "endpoint")
		}
	}
	cr := s.Credentials
	switch cr.Source {
	case "default":
	case "static":
		b.Secret(cr.AccessKeyID, true, "credentials", "access_key_id")
		b.Secret(cr.SecretAccessKey, true, "credentials", "secret_access_key")
	case "assume_role":
		if !strings.HasPrefix(cr.RoleARN, "arn:") {
			b.At(fmt.Sprintf("bad role_arn %q", cr.RoleARN), "credentials", "role_arn")
		}
		b.Secret(cr.ExternalID, false, "credentials", "external_id")
	default:
		b.At(fmt.Sprintf("unknown source %q (want default, static or assume_role)", cr.Source), "credentials", "source")
	}
	switch s.Encryption.Mode {
	case "none", "sse-s3":
	case "sse-kms":
		if s.Encryption.KMSKeyID == "" {
			b.At("sse-kms needs kms_key_id", "encryption")
		}
	default:
		b.At(fmt.Sprintf("unknown mode %q (want none, sse-s3 or sse-kms)", s.Encryption.Mode), "encryption", "mode")
	}
	if l := s.ObjectLock; l != nil {
		if l.Mode != "governance" && l.Mode != "compliance" {
			b.At(fmt.Sprintf("unknown mode %q (want governance or compliance)", l.Mode), "object_lock", "mode")
		}
		if l.Days < 1 {
			b.At("days must be at least 1", "object_lock", "days")
		}
	}
	b.Connector().Settings = &s
}

func (s *Config) applyDefaults() {
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	if s.Credentials.Source == "" {
		s.Credentials.Source = "default"
	}
	if s.Encryption.Mode == "" {
		s.Encryption.Mode = "none"
	}
}

// ConfigOf is the connector's s3 block, as Destination decoded it (or a
// test set it).
func ConfigOf(c *config.Connector) (*Config, bool) {
	if c == nil {
		return nil, false
	}
	s, ok := c.Settings.(*Config)
	return s, ok && s != nil
}
