package config

import (
	"crypto/tls"
	"fmt"
	"net"
)

// Admin secures every service's /metrics, /healthz and /readyz. Both
// settings are optional; see the admin package for what each endpoint
// requires.
type Admin struct {
	TLS *AdminTLS `yaml:"tls"`
	// Token is the bearer token /metrics and /readyz's reason require. It
	// is one token for every service of the pipeline, and auditctl sends it.
	Token Secret `yaml:"token"`
}

// AdminTLS serves the admin endpoints over TLS. Files are PEM.
type AdminTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile is what auditctl trusts for the services' certificates
	// (default: the system roots).
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
}

// ClientTLS is the TLS settings of a client of the admin endpoints
// (auditctl), or nil when they are plain HTTP.
func (a Admin) ClientTLS() (*tls.Config, error) {
	if a.TLS == nil {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: a.TLS.ServerName}
	if a.TLS.CAFile != "" {
		pool, err := loadCA(a.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("admin tls ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// Serving is what a service serves its endpoints with: the certificate and
// key files ("" for plain HTTP) and the token, resolved ("" for none).
func (a Admin) Serving() (certFile, keyFile, token string, err error) {
	if a.TLS != nil {
		certFile, keyFile = a.TLS.CertFile, a.TLS.KeyFile
	}
	if a.Token.IsSet() {
		if token, err = a.Token.Resolve(); err != nil {
			return "", "", "", fmt.Errorf("admin token: %w", err)
		}
	}
	return certFile, keyFile, token, nil
}

// admin checks the admin block and every listen address.
func (v *validator) admin(p *Pipeline) {
	listen := func(addr string, where ...any) {
		if addr == "" {
			return
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			v.at(fmt.Sprintf("listen %q: want host:port (e.g. 0.0.0.0:9464)", addr), where...)
		}
	}
	listen(p.Router.Listen, "router", "listen")
	for i := range p.Connectors {
		listen(p.Connectors[i].Listen, "connectors", i, "listen")
	}
	v.secret(adminSecret, p.Admin.Token, false, "admin", "token")
	t := p.Admin.TLS
	if t == nil {
		return
	}
	if t.CAFile != "" {
		if _, err := loadCA(t.CAFile); err != nil {
			v.at(err.Error(), "admin", "tls", "ca_file")
		}
	}
	// A process that only reads the endpoints (auditctl) has the CA, not
	// the services' key: the pair is checked where it is served.
	switch {
	case t.CertFile == "" && t.KeyFile == "":
		if t.CAFile == "" {
			v.at("set cert_file and key_file (the services), and ca_file unless the system roots trust them (auditctl)", "admin", "tls")
		}
	case t.CertFile == "":
		v.at("key_file is set but cert_file is not: the endpoints' certificate needs both", "admin", "tls", "key_file")
	case t.KeyFile == "":
		v.at("cert_file is set but key_file is not: the endpoints' certificate needs both", "admin", "tls", "cert_file")
	}
}
