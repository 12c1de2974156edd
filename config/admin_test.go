package config

import (
	"strings"
	"testing"
)

// TestAdminBlock: the admin block and the listen addresses are checked
// at load, with the line; an unset listen stays unset (the service then
// uses its default address, which may fall back to a free port).
func TestAdminBlock(t *testing.T) {
	f := setSecrets(t)
	base := strings.ReplaceAll(valid, "SECRET_FILE", f)
	p, err := Parse("pipeline.yaml", []byte(base+"admin: {token: {env: TEST_DD_KEY}}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := p.Admin.Token.String(), "env:TEST_DD_KEY"; got != want {
		t.Errorf("admin token: got %q, want %q", got, want)
	}
	tests := []struct {
		name, add, want string
	}{
		{"key without cert", "admin: {tls: {key_file: /k.pem}}\n", "admin.tls.key_file: key_file is set but cert_file is not"},
		{"cert without key", "admin: {tls: {cert_file: /c.pem}}\n", "admin.tls.cert_file: cert_file is set but key_file is not"},
		{"empty tls", "admin: {tls: {}}\n", "admin.tls: set cert_file and key_file"},
		{"missing ca", "admin: {tls: {ca_file: /nonexistent/ca.pem}}\n", "admin.tls.ca_file: "},
		{"inline token", "admin: {token: abc}\n", "secrets are never inline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("pipeline.yaml", []byte(base+tt.add))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestListenValidated(t *testing.T) {
	f := setSecrets(t)
	base := strings.ReplaceAll(valid, "SECRET_FILE", f)
	for _, tt := range []struct{ listen, want string }{
		{"9464", `router.listen: listen "9464": want host:port`},
		{"127.0.0.1:", `router.listen: listen "127.0.0.1:": want host:port`},
		{"0.0.0.0:9464", ""},
		{":0", ""},
	} {
		src := strings.Replace(base, "\nrouter:\n", "\nrouter:\n  listen: \""+tt.listen+"\"\n", 1)
		p, err := Parse("pipeline.yaml", []byte(src))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("listen %q: got %v, want no error", tt.listen, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("listen %q: got %v, want an error with %q", tt.listen, err, tt.want)
		case tt.want == "" && p.Router.Listen != tt.listen:
			t.Errorf("listen %q: got %q", tt.listen, p.Router.Listen)
		}
	}
	p, err := Parse("pipeline.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if p.Router.Listen != "" {
		t.Errorf("unset router.listen: got %q, want it left unset (the default is the service's)", p.Router.Listen)
	}
}

// TestAdminServing: what a service serves its endpoints with, the token
// resolved from its reference; a reference that does not resolve is an
// error naming the admin token, never a value.
func TestAdminServing(t *testing.T) {
	t.Setenv("ADMIN_SERVING_TOKEN", "s3cr3t-token")
	cert, key, tok, err := Admin{TLS: &AdminTLS{CertFile: "c.pem", KeyFile: "k.pem"}, Token: Secret{Env: "ADMIN_SERVING_TOKEN"}}.Serving()
	if err != nil || cert != "c.pem" || key != "k.pem" || tok != "s3cr3t-token" {
		t.Fatalf("got %q %q %q %v; want c.pem k.pem and the token", cert, key, tok, err)
	}
	if cert, key, tok, err := (Admin{}).Serving(); err != nil || cert != "" || key != "" || tok != "" {
		t.Fatalf("no admin block: got %q %q %q %v; want nothing", cert, key, tok, err)
	}
	_, _, tok, err = Admin{Token: Secret{Env: "ADMIN_SERVING_UNSET"}}.Serving()
	if err == nil || tok != "" || !strings.Contains(err.Error(), "admin token") {
		t.Fatalf("unset variable: got token %q, err %v; want an admin token error", tok, err)
	}
}
