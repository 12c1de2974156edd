package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const validatePipeline = `kafka: {brokers: [127.0.0.1:1]}
admin: {token: {env: VALIDATE_ADMIN}}
connectors:
  - id: arch
    type: s3
    redact: {hash: [remoteAddress], salt: {env: VALIDATE_SALT}}
    s3:
      bucket: archive
      credentials: {source: static, access_key_id: {env: VALIDATE_AK}, secret_access_key: {env: VALIDATE_SK}}
  - id: dd
    type: datadog
    datadog: {site: datadoghq.eu, api_key: {env: VALIDATE_DD}}
`

// TestValidate: auditctl validate checks every part of the file with
// every destination, and resolves every secret, each problem at its line.
func TestValidate(t *testing.T) {
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "p.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, k := range []string{"VALIDATE_ADMIN", "VALIDATE_SALT", "VALIDATE_AK", "VALIDATE_SK", "VALIDATE_DD"} {
		t.Setenv(k, "value-of-"+k)
	}
	for _, tt := range []struct {
		name  string
		edit  func(string) string
		args  []string
		unset string
		code  int
		want  string
	}{
		{"ok", nil, nil, "", exitOK, "ok (every part and every secret; 2 connectors)"},
		{"a secret missing", nil, nil, "VALIDATE_DD", exitUsage, ":12: connectors[1].datadog.api_key: environment variable VALIDATE_DD is not set"},
		{"a secret missing, not resolved", nil, []string{"--secrets=false"}, "VALIDATE_DD", exitOK, "secrets not resolved"},
		{"unknown key in a destination block", func(s string) string {
			return strings.Replace(s, "bucket: archive", "bucket: archive\n      buckt: x", 1)
		}, nil, "",
			exitUsage, `:9: unknown key "buckt"`},
		{"a destination's check", func(s string) string { return strings.Replace(s, "datadoghq.eu", "datadoghq.moon", 1) }, nil, "",
			exitUsage, `:12: connectors[1].datadog.site: unknown site "datadoghq.moon"`},
		{"a redacted field", func(s string) string { return strings.Replace(s, "hash: [remoteAddress]", "hash: [projectId]", 1) }, nil, "",
			exitUsage, `:6: connectors[0].redact.hash[0]: field "projectId" cannot be redacted`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unset != "" {
				t.Setenv(tt.unset, "")
			}
			body := validatePipeline
			if tt.edit != nil {
				body = tt.edit(body)
			}
			code, out, errOut := runCtl(append([]string{"validate", "--config", write(body)}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("got exit %d, %q %q; want exit %d and %q", code, out, errOut, tt.code, tt.want)
			}
			if strings.Contains(out+errOut, "value-of-") {
				t.Errorf("a secret's value in the output: %q %q", out, errOut)
			}
		})
	}
}

// TestValidateShippedPipelines: the pipeline files of the demo (a
// template, filled in here as demo/run.sh does) and of the deployment load
// with every destination (their secrets are not here).
func TestValidateShippedPipelines(t *testing.T) {
	placeholder := regexp.MustCompile(`@([A-Z0-9_]+)@`)
	for _, f := range []string{"../../../demo/pipeline.yaml", "../../../deploy/pipeline.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		filled := placeholder.ReplaceAllStringFunc(string(b), func(m string) string {
			switch name := strings.Trim(m, "@"); {
			case strings.HasSuffix(name, "LISTEN"):
				return "127.0.0.1:0"
			case name == "BROKERS":
				return "127.0.0.1:1"
			case strings.HasSuffix(name, "ENDPOINT"), strings.HasSuffix(name, "URL"):
				return "http://127.0.0.1:1"
			}
			return "x"
		})
		cfg := filepath.Join(t.TempDir(), filepath.Base(f))
		if err := os.WriteFile(cfg, []byte(filled), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := runCtl("validate", "--secrets=false", "--config", cfg); code != exitOK {
			t.Errorf("%s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}
