package deploy

import (
	"context"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/auditstream/auditstream/config"
)

// repoRoot is the repository, the parent of this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadCompose loads docker-compose.yml as `docker compose config` would,
// with an empty environment, so that every variable falls to its default.
func loadCompose(t *testing.T, file string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: file}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.ResolvePaths = true
		o.SetProjectName("auditstream", true)
	})
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	return p
}

// makeSecrets runs the documented secrets command into a new directory
// and returns it.
func makeSecrets(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	cmd := exec.Command(filepath.Join(repoRoot(t), "deploy", "make-secrets.sh"), dir)
	cmd.Env = append(os.Environ(), "DD_API_KEY=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, out)
	}
	return dir
}

// hostFile maps a file the compose file names on the host to where it is
// during the test: the secrets directory of the documented command replaces
// deploy/secrets, which is never committed.
type hostFile struct {
	root, secrets string
}

func (h hostFile) path(p string) string {
	if rel, err := filepath.Rel(filepath.Join(h.root, "deploy", "secrets"), p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.Join(h.secrets, rel)
	}
	return p
}

// mounts returns what a service sees, container path to host path: its
// configs, its secrets and its bind mounts.
func mounts(p *types.Project, s types.ServiceConfig, h hostFile) map[string]string {
	m := map[string]string{}
	for _, c := range s.Configs {
		target := c.Target
		if target == "" {
			target = "/" + c.Source
		}
		m[target] = h.path(p.Configs[c.Source].File)
	}
	for _, sec := range s.Secrets {
		target := sec.Target
		if target == "" {
			target = sec.Source
		}
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		m[target] = h.path(p.Secrets[sec.Source].File)
	}
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind {
			m[v.Target] = h.path(v.Source)
		}
	}
	return m
}

// isProjectService reports whether s runs Auditstream's image: the one the
// repository's Dockerfile builds.
func isProjectService(s types.ServiceConfig) bool {
	b := s.Build
	if b == nil {
		return false
	}
	root, _ := filepath.Abs("..")
	return b.Context == root && (b.Dockerfile == "" || b.Dockerfile == "Dockerfile")
}

// flagValue returns the value of --name in a command line.
func flagValue(cmd []string, name string) string {
	for i, a := range cmd {
		if a == "--"+name && i+1 < len(cmd) {
			return cmd[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// TestComposeNamesOnlyWhatExists checks that every file, secret, config and
// variable docker-compose.yml names exists: in the repository, or in what
// the documented secrets command makes.
func TestComposeNamesOnlyWhatExists(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	h := hostFile{root: root, secrets: makeSecrets(t)}

	exists := func(what, file string) {
		t.Helper()
		if _, err := os.Stat(h.path(file)); err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
		exists("secret "+name, p.Secrets[name].File)
	}
	for _, name := range slices.Sorted(maps.Keys(p.Configs)) {
		exists("config "+name, p.Configs[name].File)
	}
	for _, s := range p.Services {
		if b := s.Build; b != nil {
			exists(s.Name+": build context", b.Context)
			df := b.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if !filepath.IsAbs(df) {
				df = filepath.Join(b.Context, df)
			}
			exists(s.Name+": dockerfile", df)
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				exists(s.Name+": bind mount", v.Source)
			}
		}
		// A variable naming a file inside the container (MinIO's
		// MINIO_ROOT_USER_FILE) names a file the service mounts.
		m := mounts(p, s, h)
		for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
			v := s.Environment[k]
			if v == nil || !strings.HasPrefix(*v, "/run/secrets/") && !strings.HasPrefix(*v, "/etc/auditstream/") {
				continue
			}
			if _, ok := m[*v]; !ok {
				t.Errorf("%s: %s=%s: the service mounts no such file", s.Name, k, *v)
			}
		}
		// So does a command, a healthcheck or an entrypoint.
		for _, words := range [][]string{s.Command, s.Entrypoint} {
			for _, w := range words {
				if strings.Contains(w, "/run/secrets/") {
					for _, f := range strings.Fields(w) {
						if i := strings.Index(f, "/run/secrets/"); i >= 0 {
							f = strings.Trim(f[i:], `"');`)
							if _, ok := m[f]; !ok {
								t.Errorf("%s: command reads %s, which the service does not mount", s.Name, f)
							}
						}
					}
				}
			}
		}
	}

	// Every variable has a default: `docker compose up` works with no
	// .env file, and a missing one is never silently empty.
	model, err := loader.LoadModelWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) {
		o.SkipInterpolation = true
		o.SkipNormalization = true
		o.SetProjectName("auditstream", true)
	})
	if err != nil {
		t.Fatalf("load the model: %v", err)
	}
	// One string at a time: ExtractVariables merges the uses of a name, so
	// a default in one would hide its absence in another.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			vars := template.ExtractVariables(map[string]any{"s": v}, template.DefaultPattern)
			for _, name := range slices.Sorted(maps.Keys(vars)) {
				if x := vars[name]; x.DefaultValue == "" && !x.Required {
					t.Errorf("%q: variable %s has no default (write ${%s:-value})", v, name, name)
				}
			}
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(model)
}

// TestComposeServicesLoadThePipeline checks each Auditstream service
// against deploy/pipeline.yaml: the file it is given is mounted, loads
// (secrets included) with only what the service mounts, names the connector
// checkSecretsMounted checks that a service mounts exactly the secrets its
// process resolves: a sink its connector's (every file under /run/secrets/
// its block and its redaction salt name), the router none.
func checkSecretsMounted(t *testing.T, pl *config.Pipeline, s types.ServiceConfig, cmd []string) {
	t.Helper()
	want := map[string]bool{}
	if cmd[0] == "sink" {
		c, ok := pl.Connector(flagValue(cmd, "connector"))
		if !ok {
			return // reported by the caller
		}
		var block map[string]any
		if err := c.DecodeBlock(&block); err != nil {
			t.Fatalf("connector %s: %v", c.ID, err)
		}
		for _, f := range append(secretFiles(block), c.Redact.Salt.File) {
			if name, ok := strings.CutPrefix(f, "/run/secrets/"); ok {
				want[name] = true
			}
		}
	}
	got := map[string]bool{}
	for _, sec := range s.Secrets {
		got[sec.Source] = true
	}
	for name := range got {
		if !want[name] {
			t.Errorf("mounts secret %s, which its process does not use", name)
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("does not mount secret %s, which its process uses", name)
		}
	}
}

// secretFiles returns the file of every secret reference ({file: PATH})
// found in a decoded block.
func secretFiles(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if f, ok := v["file"].(string); ok && len(v) == 1 {
			out = append(out, f)
		}
		for _, x := range v {
			out = append(out, secretFiles(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, secretFiles(x)...)
		}
	}
	return out
}

// it runs, and listens where the compose file says.
func TestComposeServicesLoadThePipeline(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	h := hostFile{root: root, secrets: makeSecrets(t)}
	// The file as shipped, its secret paths as the containers see them
	// (loading resolves no secret).
	shipped, err := config.Load(filepath.Join(root, "deploy", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	deployed := map[string]bool{}
	routers := 0
	for _, s := range p.Services {
		if !isProjectService(s) {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			cmd := []string(s.Command)
			if len(cmd) < 2 {
				t.Fatalf("command %q: want `router|sink COMMAND --config FILE`", cmd)
			}
			cfgPath := flagValue(cmd, "config")
			m := mounts(p, s, h)
			host, ok := m[cfgPath]
			if !ok {
				t.Fatalf("--config %q: the service mounts no such file (mounts: %v)", cfgPath, slices.Sorted(maps.Keys(m)))
			}
			pl := loadPipelineAs(t, host, s, m)
			checkSecretsMounted(t, shipped, s, cmd)

			var listen string
			switch cmd[0] + " " + cmd[1] {
			case "router run":
				routers++
				listen = pl.Router.Listen
			case "sink run":
				id := flagValue(cmd, "connector")
				c, ok := pl.Connector(id)
				if !ok {
					t.Fatalf("--connector %q: no such connector in %s", id, cfgPath)
				}
				deployed[id] = true
				listen = c.Listen
			case "router setup":
				return
			default:
				t.Fatalf("command %q: not a command this file should run", cmd)
			}
			for _, port := range servicePorts(s) {
				if err := listensOn(listen, port); err != nil {
					t.Errorf("port %d: %v", port, err)
				}
			}
			if s.HealthCheck != nil && !s.HealthCheck.Disable {
				for _, w := range s.HealthCheck.Test {
					if strings.HasPrefix(w, "http://") {
						if err := healthURLMatches(w, listen); err != nil {
							t.Errorf("healthcheck %s: %v", w, err)
						}
					}
				}
			}
		})
	}
	if routers == 0 {
		t.Errorf("no service runs `router run`")
	}
	for _, c := range loadPipeline(t, p, h).Connectors {
		if !deployed[c.ID] {
			t.Errorf("connector %s: no service runs `sink run --connector %s`", c.ID, c.ID)
		}
	}
}

// loadPipeline loads deploy/pipeline.yaml with every secret of the compose
// file in place.
func loadPipeline(t *testing.T, p *types.Project, h hostFile) *config.Pipeline {
	t.Helper()
	m := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
		m["/run/secrets/"+name] = h.path(p.Secrets[name].File)
	}
	pl, err := config.Parse("pipeline.yaml", rewritePaths(t, filepath.Join(h.root, "deploy", "pipeline.yaml"), m))
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// loadPipelineAs loads the pipeline file as service s would see it: the
// container paths it names are replaced by the host files mounted there,
// and the environment is the service's. A secret the service does not
// mount fails the load, as it would fail the service at start.
func loadPipelineAs(t *testing.T, file string, s types.ServiceConfig, m map[string]string) *config.Pipeline {
	t.Helper()
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	b := rewritePaths(t, file, m)
	isolateEnv(t, b, env)
	pl, err := config.Parse(file, b)
	if err != nil {
		t.Fatalf("load the pipeline as %s would: %v", s.Name, err)
	}
	return pl
}

// rewritePaths returns the file with each container path of m replaced by
// its host path. Longer paths go first, so that no path is rewritten
// inside another.
func rewritePaths(t *testing.T, file string, m map[string]string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, m[k])
	}
	return []byte(s)
}

// servicePorts returns the container ports a service publishes or exposes.
func servicePorts(s types.ServiceConfig) []uint32 {
	var ports []uint32
	for _, p := range s.Ports {
		ports = append(ports, p.Target)
	}
	for _, e := range s.Expose {
		n, err := strconv.ParseUint(strings.TrimSuffix(e, "/tcp"), 10, 32)
		if err == nil {
			ports = append(ports, uint32(n))
		}
	}
	return ports
}

// listensOn checks that a listen address serves port to other containers.
func listensOn(listen string, port uint32) error {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return errorf("listen address %q: %v", listen, err)
	}
	if p != strconv.FormatUint(uint64(port), 10) {
		return errorf("the pipeline listens on %q, another port", listen)
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return errorf("the pipeline listens on %q, unreachable from other containers", listen)
	}
	return nil
}

// healthURLMatches checks that a healthcheck URL reaches the admin address.
func healthURLMatches(url, listen string) error {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return errorf("listen address %q: %v", listen, err)
	}
	rest := strings.TrimPrefix(url, "http://")
	hostport, _, _ := strings.Cut(rest, "/")
	if _, p, err := net.SplitHostPort(hostport); err != nil || p != port {
		return errorf("the pipeline listens on %q", listen)
	}
	return nil
}

// TestComposeStartOrder checks what makes the stack start, and start
// again: each long-running service has a restart policy and a healthcheck,
// and each dependency waits for a condition that the dependency can meet.
func TestComposeStartOrder(t *testing.T) {
	p := loadCompose(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
	oneShot := func(s types.ServiceConfig) bool { return s.Restart == types.RestartPolicyNo }
	for _, s := range p.Services {
		if oneShot(s) {
			continue
		}
		if s.Restart != types.RestartPolicyUnlessStopped && s.Restart != types.RestartPolicyAlways && !strings.HasPrefix(s.Restart, "on-failure") {
			t.Errorf("%s: restart %q: a long-running service restarts (unless-stopped)", s.Name, s.Restart)
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s: no healthcheck", s.Name)
		}
	}
	for _, s := range p.Services {
		for _, name := range slices.Sorted(maps.Keys(s.DependsOn)) {
			d := s.DependsOn[name]
			dep, err := p.GetService(name)
			if err != nil {
				t.Errorf("%s: depends on %s: %v", s.Name, name, err)
				continue
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if dep.HealthCheck == nil || dep.HealthCheck.Disable {
					t.Errorf("%s: waits for %s to be healthy, which has no healthcheck", s.Name, name)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if !oneShot(dep) {
					t.Errorf("%s: waits for %s to complete, which restarts (%q)", s.Name, name, dep.Restart)
				}
			default:
				t.Errorf("%s: depends on %s with condition %q: want service_healthy or service_completed_successfully", s.Name, name, d.Condition)
			}
		}
	}
}

// TestComposeSetupMakesWhatTheSinksNeed checks that the setup jobs make the
// pipeline's topics and every S3 connector's bucket, at the endpoint the
// connector writes to, before any service that needs them starts.
func TestComposeSetupMakesWhatTheSinksNeed(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	pl := loadPipeline(t, p, hostFile{root: root, secrets: makeSecrets(t)})

	var topics, buckets string
	var bucketJob types.ServiceConfig
	for _, s := range p.Services {
		cmd := []string(s.Command)
		if isProjectService(s) && len(cmd) > 1 && cmd[0] == "router" && cmd[1] == "setup" {
			topics = s.Name
		}
		if _, ok := s.Environment["BUCKETS"]; ok {
			buckets, bucketJob = s.Name, s
		}
	}
	if topics == "" {
		t.Fatalf("no service runs `router setup`")
	}
	for _, s := range p.Services {
		cmd := []string(s.Command)
		if !isProjectService(s) || len(cmd) < 2 || cmd[1] != "run" {
			continue
		}
		if d, ok := s.DependsOn[topics]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: starts before %s has made the topics", s.Name, topics)
		}
		id := flagValue(cmd, "connector")
		if c, ok := pl.Connector(id); ok && c.Type == config.TypeS3 {
			if d, ok := s.DependsOn[buckets]; buckets == "" || !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("%s: starts before a job has made its bucket", s.Name)
			}
		}
	}

	var want []string
	for _, c := range pl.Connectors {
		if c.Type != config.TypeS3 {
			continue
		}
		s3 := destinationOf(t, &c)
		want = append(want, s3.Bucket)
		if buckets == "" {
			continue
		}
		if got := *bucketJob.Environment["AWS_ENDPOINT_URL"]; got != s3.Endpoint {
			t.Errorf("%s: AWS_ENDPOINT_URL %s, but connector %s writes to %s", buckets, got, c.ID, s3.Endpoint)
		}
	}
	if buckets == "" {
		if len(want) > 0 {
			t.Fatalf("no job makes the buckets %v", want)
		}
		return
	}
	got := strings.Fields(*bucketJob.Environment["BUCKETS"])
	slices.Sort(got)
	slices.Sort(want)
	want = slices.Compact(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s makes buckets %v, want the S3 connectors' %v", buckets, got, want)
	}
}

// TestPrometheusScrapesEveryService checks deploy/prometheus.yml against
// the compose file: every Auditstream service that serves /metrics is
// scraped, on the port it listens on.
func TestPrometheusScrapesEveryService(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	b, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		ScrapeConfigs []struct {
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  uint32   `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	scraped := map[string]uint32{}
	for _, sc := range prom.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				scraped[n] = d.Port
			}
		}
	}
	for _, s := range p.Services {
		ports := servicePorts(s)
		if !isProjectService(s) || len(ports) == 0 {
			continue
		}
		port, ok := scraped[s.Name]
		if !ok {
			t.Errorf("prometheus.yml does not scrape %s", s.Name)
			continue
		}
		if !slices.Contains(ports, port) {
			t.Errorf("prometheus.yml scrapes %s on %d; it serves %v", s.Name, port, ports)
		}
		delete(scraped, s.Name)
	}
	for n := range scraped {
		if _, err := p.GetService(n); err != nil {
			t.Errorf("prometheus.yml scrapes %s, which is not a service", n)
		}
	}
}

// TestMakeSecrets checks the documented secrets command: it makes every
// file, readable by the containers' users, and keeps existing keys.
func TestMakeSecrets(t *testing.T) {
	dir := makeSecrets(t)
	before := map[string]string{}
	for _, name := range []string{"s3_access_key", "s3_secret_key", "dd_api_key"} {
		f := filepath.Join(dir, name)
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o644); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
		b, _ := os.ReadFile(f)
		if v := strings.TrimSpace(string(b)); len(v) < 8 {
			t.Errorf("%s: %d characters, want at least 8 (MinIO's minimum)", name, len(v))
		}
		before[name] = string(b)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("secrets directory: mode %v (err %v), want 0700", fi.Mode().Perm(), err)
	}
	out, err := exec.Command(filepath.Join(repoRoot(t), "deploy", "make-secrets.sh"), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	for name, v := range before {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if string(b) != v {
			t.Errorf("%s: a second run changed it; want existing keys kept", name)
		}
	}
	if strings.Contains(string(out), before["s3_secret_key"]) {
		t.Errorf("make-secrets.sh printed a secret")
	}
}

// TestComposeKafkaDataOnItsVolume checks that Apache Kafka's log
// directories are on a volume: the image's default, /tmp/kraft-combined-logs,
// is in the container and gone with it.
func TestComposeKafkaDataOnItsVolume(t *testing.T) {
	p := loadCompose(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
	n := 0
	for _, s := range p.Services {
		if !strings.HasPrefix(s.Image, "apache/kafka:") {
			continue
		}
		n++
		dirs := s.Environment["KAFKA_LOG_DIRS"]
		if dirs == nil || *dirs == "" {
			t.Errorf("%s: KAFKA_LOG_DIRS is unset: the data stays in the container", s.Name)
			continue
		}
		for _, d := range strings.Split(*dirs, ",") {
			onVolume := false
			for _, v := range s.Volumes {
				if v.Type == types.VolumeTypeVolume && (d == v.Target || strings.HasPrefix(d, v.Target+"/")) {
					onVolume = true
				}
			}
			if !onVolume {
				t.Errorf("%s: log directory %s is on no named volume", s.Name, d)
			}
		}
	}
	if n == 0 {
		t.Errorf("no apache/kafka service")
	}
}

// destination is what these tests read of a connector's destination block
// (owned by the sinks' s3sink and ddsink, which this module cannot import).
type destination struct {
	Bucket   string `yaml:"bucket"`   // s3
	Endpoint string `yaml:"endpoint"` // s3
	URL      string `yaml:"url"`      // datadog
}

func destinationOf(t *testing.T, c *config.Connector) destination {
	t.Helper()
	var d destination
	if err := c.DecodeBlock(&d); err != nil {
		t.Fatal(err)
	}
	return d
}
