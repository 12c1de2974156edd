//go:build integration

package deploy

// The alert rules checked by promtool, at the version of the Prometheus
// that docker-compose.yml runs. promtool is built once through the Go
// module proxy (prometheus/promtool.sh, cached under ~/.cache/auditstream);
// the first build takes minutes, so these tests run with the integration
// suite, not with `make unit`.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func promtool(t *testing.T) string {
	t.Helper()
	start := time.Now()
	out, err := exec.Command("bash", "prometheus/promtool.sh").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("build promtool: %v\n%s", err, stderr)
	}
	t.Logf("promtool ready in %s", time.Since(start).Round(time.Millisecond))
	return strings.TrimSpace(string(out))
}

func runPromtool(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

// TestPromtool checks the rules (`check rules`), runs their unit tests
// (`test rules prometheus/alerts_test.yml`), and checks prometheus.yml with
// the rules where the compose file mounts them (`check config`); all with
// the promtool of the Prometheus image that docker-compose.yml runs.
func TestPromtool(t *testing.T) {
	bin := promtool(t)

	t.Run("version is the compose image's", func(t *testing.T) {
		p := loadCompose(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
		s, err := p.GetService("prometheus")
		if err != nil {
			t.Fatal(err)
		}
		_, tag, _ := strings.Cut(s.Image, ":")
		out, err := runPromtool(t, bin, "--version")
		if err != nil {
			t.Fatalf("promtool --version: %v\n%s", err, out)
		}
		if want := "version " + strings.TrimPrefix(tag, "v") + " "; !strings.Contains(out, want) {
			t.Errorf("promtool --version:\n%s\nwant %q, the compose file's image %s; change PROMETHEUS_MODULE_VERSION in prometheus/promtool.sh", out, want, s.Image)
		}
	})

	t.Run("check rules", func(t *testing.T) {
		if out, err := runPromtool(t, bin, "check", "rules", rulesFile); err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", rulesFile, err, out)
		}
		bad := filepath.Join(t.TempDir(), "bad.yml")
		if err := os.WriteFile(bad, []byte("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum by (connector (rate(x[5m]))\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := runPromtool(t, bin, "check", "rules", bad); err == nil {
			t.Errorf("promtool check rules passed a rule that does not parse:\n%s", out)
		}
	})

	t.Run("test rules", func(t *testing.T) {
		out, err := runPromtool(t, bin, "test", "rules", "prometheus/alerts_test.yml")
		if err != nil {
			t.Errorf("promtool test rules: %v\n%s", err, out)
		}
	})

	t.Run("check config as compose mounts it", func(t *testing.T) {
		dir := t.TempDir()
		for from, to := range map[string]string{"prometheus.yml": "prometheus.yml", rulesFile: "alerts.yml"} {
			b, err := os.ReadFile(from)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, to), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := runPromtool(t, bin, "check", "config", filepath.Join(dir, "prometheus.yml")); err != nil {
			t.Errorf("promtool check config: %v\n%s", err, out)
		}
	})
}
