package config

import (
	"fmt"
	"strings"
)

// kafkaTLS checks that the TLS files exist and parse: the CA bundle holds
// certificates, and the client certificate and key are a pair. A service
// must not start with a TLS setting it can only fail with at the first
// connection.
func (v *validator) kafkaTLS(t *TLS) {
	if t == nil {
		return
	}
	if t.CAFile != "" {
		if _, err := loadCA(t.CAFile); err != nil {
			v.at(err.Error(), "kafka", "tls", "ca_file")
		}
	}
	switch {
	case t.CertFile == "" && t.KeyFile == "":
	case t.CertFile == "":
		v.at("key_file is set but cert_file is not: a client certificate needs both", "kafka", "tls", "key_file")
	case t.KeyFile == "":
		v.at("cert_file is set but key_file is not: a client certificate needs both", "kafka", "tls", "cert_file")
	default:
		if _, err := loadKeyPair(t.CertFile, t.KeyFile); err != nil {
			v.at(err.Error(), "kafka", "tls", "cert_file")
		}
	}
}

func (v *validator) kafkaSASL(s *SASL) {
	if s == nil {
		return
	}
	at := func(msg string, where ...any) { v.at(msg, append([]any{"kafka", "sasl"}, where...)...) }
	switch s.Mechanism {
	case MechanismPlain, MechanismScramSHA256, MechanismScramSHA512:
		if s.Username == "" {
			at("username is required")
		}
		v.secret(kafkaSecret, s.Password, true, "kafka", "sasl", "password")
		if s.OAuth != nil {
			at(fmt.Sprintf("%s takes username and password, not oauth", s.Mechanism), "oauth")
		}
		if s.AWS != nil {
			at(fmt.Sprintf("%s takes username and password, not aws", s.Mechanism), "aws")
		}
	case MechanismOAuthBearer:
		if s.OAuth == nil {
			at("OAUTHBEARER needs an oauth block with a token: {file: PATH}", "mechanism")
		} else {
			v.secret(kafkaSecret, s.OAuth.Token, true, "kafka", "sasl", "oauth", "token")
		}
		v.noPassword(s)
		if s.AWS != nil {
			at("OAUTHBEARER takes an oauth block, not aws", "aws")
		}
	case MechanismMSKIAM:
		if s.AWS == nil {
			at("AWS_MSK_IAM needs an aws block with a credentials source", "mechanism")
		} else {
			v.kafkaAWS(s.AWS)
		}
		v.noPassword(s)
		if s.OAuth != nil {
			at("AWS_MSK_IAM takes an aws block, not oauth", "oauth")
		}
	default:
		at(fmt.Sprintf("unknown mechanism %q (want %s)", s.Mechanism, strings.Join(Mechanisms, ", ")), "mechanism")
	}
}

// noPassword rejects the PLAIN/SCRAM fields under a token mechanism: they
// would be ignored, and a reader would believe they are used.
func (v *validator) noPassword(s *SASL) {
	if s.Username != "" {
		v.at(fmt.Sprintf("%s does not use a username", s.Mechanism), "kafka", "sasl", "username")
	}
	if s.Password.IsSet() {
		v.at(fmt.Sprintf("%s does not use a password", s.Mechanism), "kafka", "sasl", "password")
	}
}

func (v *validator) kafkaAWS(a *KafkaAWS) {
	where := []any{"kafka", "sasl", "aws"}
	at := func(msg string, key ...any) { v.at(msg, append(where, key...)...) }
	switch a.Source {
	case "default":
	case "static":
		v.secret(kafkaSecret, a.AccessKeyID, true, append(where, "access_key_id")...)
		v.secret(kafkaSecret, a.SecretAccessKey, true, append(where, "secret_access_key")...)
		v.secret(kafkaSecret, a.SessionToken, false, append(where, "session_token")...)
	case "assume_role":
		if !strings.HasPrefix(a.RoleARN, "arn:") {
			at(fmt.Sprintf("bad role_arn %q", a.RoleARN), "role_arn")
		}
		v.secret(kafkaSecret, a.ExternalID, false, append(where, "external_id")...)
	default:
		at(fmt.Sprintf("unknown source %q (want default, static or assume_role)", a.Source), "source")
	}
}
