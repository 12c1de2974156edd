package config

import (
	"fmt"
	"strings"
	"testing"
)

// fakeS3 and fakeDatadog decode the valid file's blocks as the sinks'
// destination packages do, for the loader's own tests.
type fakeS3 struct {
	Bucket      string `yaml:"bucket"`
	Endpoint    string `yaml:"endpoint"`
	PathStyle   bool   `yaml:"path_style"`
	Credentials struct {
		Source          string `yaml:"source"`
		AccessKeyID     Secret `yaml:"access_key_id"`
		SecretAccessKey Secret `yaml:"secret_access_key"`
	} `yaml:"credentials"`
	ObjectLock *struct {
		Mode string `yaml:"mode"`
		Days int    `yaml:"days"`
	} `yaml:"object_lock"`
}

type fakeDatadog struct {
	Site   string   `yaml:"site"`
	APIKey Secret   `yaml:"api_key"`
	Tags   []string `yaml:"tags"`
}

type fakeDest struct{ typ ConnectorType }

func (d fakeDest) Type() ConnectorType { return d.typ }

func (d fakeDest) Decode(b *Block) {
	switch d.typ {
	case TypeS3:
		var s fakeS3
		if !b.Decode(&s) {
			return
		}
		if s.Credentials.Source == "static" {
			b.Secret(s.Credentials.AccessKeyID, true, "credentials", "access_key_id")
			b.Secret(s.Credentials.SecretAccessKey, true, "credentials", "secret_access_key")
		}
		b.Connector().Settings = &s
	case TypeDatadog:
		var s fakeDatadog
		if !b.Decode(&s) {
			return
		}
		if s.Site != "datadoghq.eu" {
			b.At(fmt.Sprintf("unknown site %q", s.Site), "site")
		}
		b.Secret(s.APIKey, true, "api_key")
		c := b.Connector()
		setDefault(&c.Batch.MaxEvents, 1000)
		if c.Batch.MaxEvents > 1000 {
			b.AtConnector(fmt.Sprintf("%d is over the intake's limit of 1000 entries per request", c.Batch.MaxEvents), "batch", "max_events")
		}
		c.Settings = &s
	}
}

// testDests are the fake destinations, as an option of Parse.
var testDests = WithDestinations(fakeDest{TypeS3}, fakeDest{TypeDatadog})

// TestDestinationBlocks: a destination decodes its block strictly, with
// the lines of the file; the loader checks which blocks a connector has;
// loaded without destinations (the router), the blocks stay undecoded and
// unchecked.
func TestDestinationBlocks(t *testing.T) {
	f := setSecrets(t)
	base := strings.ReplaceAll(valid, "SECRET_FILE", f)
	p, err := Parse("p.yaml", []byte(base), testDests)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	dd, _ := p.Connector("dd-prod")
	if got, ok := dd.Settings.(*fakeDatadog); !ok || got.Site != "datadoghq.eu" || got.APIKey.Env != "TEST_DD_KEY" {
		t.Errorf("dd-prod settings: got %#v, want the decoded datadog block", dd.Settings)
	}
	if got, want := dd.Batch.MaxEvents, 1000; got != want {
		t.Errorf("dd-prod max_events: got %d, want the destination's default %d before the loader's", got, want)
	}
	if got, want := dd.Batch.MaxBytes, ByteSize(16<<20); got != want {
		t.Errorf("dd-prod max_bytes: got %d, want the loader's default %d", got, want)
	}
	for _, tt := range []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"unknown key in a block", func(s string) string { return strings.Replace(s, "path_style: true", "path_stile: true", 1) },
			[]string{`23: unknown key "path_stile"`}},
		{"unknown nested key", func(s string) string { return strings.Replace(s, "days: 365}", "days: 365, forever: true}", 1) },
			[]string{`28: unknown key "forever"`}},
		{"bad value in a block", func(s string) string { return strings.Replace(s, "days: 365", "days: many", 1) },
			[]string{`28: cannot unmarshal !!str ` + "`many`"}},
		{"inline secret", func(s string) string {
			return strings.Replace(s, "api_key: {env: TEST_DD_KEY}", "api_key: abcdef0123", 1)
		},
			[]string{"36: secrets are never inline"}},
		{"destination's own check", func(s string) string { return strings.Replace(s, "datadoghq.eu", "datadoghq.moon", 1) },
			[]string{`35: connectors[1].datadog.site: unknown site "datadoghq.moon"`}},
		{"destination's batch bound", func(s string) string { return strings.Replace(s, "{max_age: 1s}", "{max_events: 5000}", 1) },
			[]string{"33: connectors[1].batch.max_events: 5000 is over the intake's limit of 1000"}},
		{"required secret", func(s string) string { return strings.Replace(s, "      api_key: {env: TEST_DD_KEY}\n", "", 1) },
			[]string{"35: connectors[1].datadog.api_key: a secret reference {env: NAME} or {file: PATH} is required"}},
		{"unknown type", func(s string) string { return strings.Replace(s, "type: datadog", "type: splunk", 1) },
			[]string{`34: connectors[1]: unknown key "datadog"`, `30: connectors[1].type: unknown type "splunk" (want datadog or s3)`}},
		{"block of another type", func(s string) string { return strings.Replace(s, "type: datadog", "type: s3", 1) },
			[]string{`34: connectors[1]: unknown key "datadog": a connector of type s3 takes only its s3: block`, "30: connectors[1].type: type s3 needs a block s3:"}},
		{"no type", func(s string) string { return strings.Replace(s, "    type: datadog\n", "", 1) },
			[]string{`33: connectors[1]: unknown key "datadog"`, "29: connectors[1].type: type is required"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.edit(base)), testDests)
			checkErrors(t, err, tt.want)
		})
	}

	// The redacted fields are checked by the process that redacts.
	check := WithRedactFields(func(name string) error {
		if name != "loginIds" {
			return fmt.Errorf("unknown field %q", name)
		}
		return nil
	})
	_, err = Parse("p.yaml", []byte(strings.Replace(base, "hash: [loginIds]", "hash: [loginIds, email]", 1)), check)
	checkErrors(t, err, []string{`18: connectors[0].redact.hash[1]: unknown field "email"`})

	// The router's view: no destination, nothing of the blocks checked,
	// none of their secrets recorded.
	p, err = Parse("p.yaml", []byte(strings.Replace(base, "datadoghq.eu", "datadoghq.moon", 1)))
	if err != nil {
		t.Fatalf("Parse without destinations: %v", err)
	}
	if dd, _ := p.Connector("dd-prod"); dd.Settings != nil {
		t.Errorf("without destinations: got settings %#v, want none", dd.Settings)
	}
	t.Setenv("TEST_DD_KEY", "")
	if err := p.CheckSecrets(SecretScope{Connectors: []string{"dd-prod"}}); err != nil {
		t.Errorf("without destinations, dd-prod's secrets: got %v, want none recorded", err)
	}
}
