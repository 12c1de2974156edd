package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/stack/testpki"
)

const chartDir = "helm/auditstream"

// scaledObject mirrors KEDA's ScaledObject (keda.sh/v1alpha1), the fields
// of its documented specification
// (https://keda.sh/docs/2.18/reference/scaledobject-spec/). KEDA's own Go
// module would bring its scalers' dependencies; a strict decode into these
// fields catches the same misspelt or misplaced keys.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion             string `json:"apiVersion,omitempty"`
			Kind                   string `json:"kind,omitempty"`
			Name                   string `json:"name"`
			EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
		} `json:"scaleTargetRef"`
		PollingInterval       *int32         `json:"pollingInterval,omitempty"`
		CooldownPeriod        *int32         `json:"cooldownPeriod,omitempty"`
		InitialCooldownPeriod *int32         `json:"initialCooldownPeriod,omitempty"`
		IdleReplicaCount      *int32         `json:"idleReplicaCount,omitempty"`
		MinReplicaCount       *int32         `json:"minReplicaCount,omitempty"`
		MaxReplicaCount       *int32         `json:"maxReplicaCount,omitempty"`
		Fallback              map[string]any `json:"fallback,omitempty"`
		Advanced              map[string]any `json:"advanced,omitempty"`
		Triggers              []struct {
			Type string `json:"type"`
			Name string `json:"name,omitempty"`
			// Trigger metadata values are strings in KEDA's CRD: an
			// unquoted false or 5 in YAML is refused by the API server.
			Metadata          map[string]string `json:"metadata"`
			AuthenticationRef *struct {
				Name string `json:"name"`
				Kind string `json:"kind,omitempty"`
			} `json:"authenticationRef,omitempty"`
			MetricType       string `json:"metricType,omitempty"`
			UseCachedMetrics bool   `json:"useCachedMetrics,omitempty"`
		} `json:"triggers"`
	} `json:"spec"`
}

// triggerAuthentication mirrors KEDA's TriggerAuthentication, the part of
// its documented specification the chart uses.
type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef,omitempty"`
		Env []struct {
			Parameter     string `json:"parameter"`
			Name          string `json:"name"`
			ContainerName string `json:"containerName,omitempty"`
		} `json:"env,omitempty"`
	} `json:"spec"`
}

// rendered is a chart's output, decoded.
type rendered struct {
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	serviceAccounts map[string]*corev1.ServiceAccount
	pdbs            map[string]*policyv1.PodDisruptionBudget
	netpols         map[string]*networkingv1.NetworkPolicy
	scaledObjects   map[string]*scaledObject
	triggerAuths    map[string]*triggerAuthentication
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
	prometheusRules map[string]*monitoringv1.PrometheusRule
}

// mergeValues merges values files as `helm -f a -f b` does: maps merge
// key by key, anything else (lists included) is replaced.
func mergeValues(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeValues(am, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// renderChart renders the chart with Helm's engine, as `helm template` does
// with the values files given, for release "audit" in namespace "audit".
func renderChart(t *testing.T, valuesFiles ...string) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load the chart: %v", err)
	}
	vals := map[string]any{}
	for _, f := range valuesFiles {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			t.Fatalf("values %s: %v", f, err)
		}
		vals = mergeValues(vals, v)
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{
		Name: "audit", Namespace: "audit", Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		// values.schema.json refused them, as `helm install` would.
		return nil, fmt.Errorf("values: %w", err)
	}
	return engine.Render(ch, rv)
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decode decodes every rendered object strictly into its API type: an
// unknown or misplaced field fails, as the API server's strict field
// validation would refuse it.
func decode(t *testing.T, files map[string]string) *rendered {
	t.Helper()
	r := &rendered{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		serviceAccounts: map[string]*corev1.ServiceAccount{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		netpols: map[string]*networkingv1.NetworkPolicy{}, scaledObjects: map[string]*scaledObject{},
		triggerAuths: map[string]*triggerAuthentication{}, serviceMonitors: map[string]*monitoringv1.ServiceMonitor{},
		prometheusRules: map[string]*monitoringv1.PrometheusRule{},
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		for i, doc := range docSeparator.Split(files[name], -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("%s#%d", name, i)
			var tm metav1.TypeMeta
			if err := sigsyaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v\n%s", where, err, doc)
			}
			var obj interface{ GetName() string }
			var into func(string)
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				o := &appsv1.Deployment{}
				obj, into = o, func(n string) { r.deployments[n] = o }
			case "v1 Service":
				o := &corev1.Service{}
				obj, into = o, func(n string) { r.services[n] = o }
			case "v1 ConfigMap":
				o := &corev1.ConfigMap{}
				obj, into = o, func(n string) { r.configMaps[n] = o }
			case "v1 Secret":
				o := &corev1.Secret{}
				obj, into = o, func(n string) { r.secrets[n] = o }
			case "v1 ServiceAccount":
				o := &corev1.ServiceAccount{}
				obj, into = o, func(n string) { r.serviceAccounts[n] = o }
			case "policy/v1 PodDisruptionBudget":
				o := &policyv1.PodDisruptionBudget{}
				obj, into = o, func(n string) { r.pdbs[n] = o }
			case "networking.k8s.io/v1 NetworkPolicy":
				o := &networkingv1.NetworkPolicy{}
				obj, into = o, func(n string) { r.netpols[n] = o }
			case "keda.sh/v1alpha1 ScaledObject":
				o := &scaledObject{}
				obj, into = o, func(n string) { r.scaledObjects[n] = o }
			case "keda.sh/v1alpha1 TriggerAuthentication":
				o := &triggerAuthentication{}
				obj, into = o, func(n string) { r.triggerAuths[n] = o }
			case "monitoring.coreos.com/v1 ServiceMonitor":
				o := &monitoringv1.ServiceMonitor{}
				obj, into = o, func(n string) { r.serviceMonitors[n] = o }
			case "monitoring.coreos.com/v1 PrometheusRule":
				o := &monitoringv1.PrometheusRule{}
				obj, into = o, func(n string) { r.prometheusRules[n] = o }
			default:
				t.Fatalf("%s: %s %s: a kind the test does not know; add it", where, tm.APIVersion, tm.Kind)
			}
			if err := decodeStrict(doc, obj); err != nil {
				t.Fatalf("%s: strict decode into %s: %v\n%s", where, tm.Kind, err, doc)
			}
			n := obj.GetName()
			if n == "" || len(n) > 63 || !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString(n) {
				t.Errorf("%s: %s name %q is not a DNS label", where, tm.Kind, n)
			}
			into(n)
		}
	}
	return r
}

// decodeStrict decodes a YAML object as the API server receives it: Helm
// sends JSON converted from the YAML with no knowledge of the target type,
// so an unquoted false stays a boolean where a string is wanted (which
// sigs.k8s.io/yaml's own Unmarshal would quietly convert), and an unknown
// field is an error.
func decodeStrict(doc string, obj any) error {
	j, err := sigsyaml.YAMLToJSONStrict([]byte(doc))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one object in a document")
	}
	return nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// chartCase is a values file and what the cluster holds besides the chart:
// the Secrets it names but does not make, with their keys.
type chartCase struct {
	values   string
	external map[string][]string
}

var chartCases = []chartCase{
	{values: "helm/testdata/minimal.yaml"},
	{values: "helm/testdata/tls-sasl.yaml", external: map[string][]string{
		"kafka-client-tls": {"ca.crt", "tls.crt", "tls.key"},
	}},
	{values: "helm/testdata/production.yaml", external: map[string][]string{
		"auditstream-kafka-credentials": {"username", "password"},
		"audit-archive-s3":              {"access_key_id", "secret_access_key"},
	}},
}

// TestChartRendersValidObjects renders the chart with each values file and
// checks each object against its API type and against the pipeline it
// runs. The checks are in the functions it calls.
func TestChartRendersValidObjects(t *testing.T) {
	for _, tc := range chartCases {
		t.Run(filepath.Base(tc.values), func(t *testing.T) {
			files, err := renderChart(t, tc.values)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			r := decode(t, files)
			vals, err := chartutil.ReadValuesFile(tc.values)
			if err != nil {
				t.Fatal(err)
			}
			pl := checkPipeline(t, r, tc)
			checkWorkloads(t, r, pl, vals)
			checkAutoscaling(t, r, pl, tc)
			checkDisruptionAndMonitoring(t, r)
			checkNetworkPolicies(t, r, pl)
		})
	}
}

// TestChartRefusesIncompleteValues checks that the chart fails at render,
// with the key to set, rather than render a pipeline that fails at start.
func TestChartRefusesIncompleteValues(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, values, want string
	}{
		{"no brokers", "connectors: []\n", "kafka.brokers"},
		{"TLS without its Secret", "kafka: {brokers: [k:9093], tls: {enabled: true}}\n", "kafka.tls.existingSecret"},
		{"SASL without a password", "kafka: {brokers: [k:9093], sasl: {enabled: true, username: u}}\n", "kafka.sasl.password"},
		{"unknown SASL mechanism", "kafka: {brokers: [k:9093], sasl: {enabled: true, mechanism: GSSAPI, username: u, password: p}}\nconnectors: [{id: a, type: s3, s3: {bucket: abc}}]\n", "sasl/mechanism"},
		{"misspelt chart key", "kafka: {brokers: [k:9092]}\nsink: {autoscalling: {enabled: false}}\n", "autoscalling"},
		{"misspelt connector chart key", "kafka: {brokers: [k:9092]}\nconnectors: [{id: a, type: s3, s3: {bucket: abc}, autoscaling: {maxReplica: 3}}]\n", "maxReplica"},
		{"broker without a port", "kafka: {brokers: [kafka]}\n", "brokers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(f, []byte(tc.values), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := renderChart(t, f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("render: got error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// fakeSecrets returns recognisable fake values for a Secret's keys, and,
// for the keys of a kubernetes.io/tls Secret, real throwaway PEM that
// matches: the pipeline loader parses the TLS files it is given.
func fakeSecrets(t *testing.T, keys []string) map[string]string {
	t.Helper()
	ca := testpki.NewCA(t, "test CA")
	certFile, keyFile := ca.Issue(t, "client", true)
	pem := map[string]string{"ca.crt": read(t, ca.File), "tls.crt": read(t, certFile), "tls.key": read(t, keyFile)}
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := pem[k]; ok {
			out[k] = v
		} else {
			out[k] = "fake-" + k
		}
	}
	return out
}

func read(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// podFiles materializes what a pod mounts, container path to a host file:
// the pipeline ConfigMap and every Secret (rendered, or one of the case's
// external Secrets, filled with recognisable fake values).
func podFiles(t *testing.T, r *rendered, tc chartCase, spec corev1.PodSpec, c corev1.Container) map[string]string {
	t.Helper()
	dir := t.TempDir()
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	files := map[string]string{}
	for _, m := range c.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			t.Errorf("container %s mounts volume %s, which the pod does not have", c.Name, m.Name)
			continue
		}
		var data map[string]string
		var items []corev1.KeyToPath
		switch {
		case v.ConfigMap != nil:
			cm, ok := r.configMaps[v.ConfigMap.Name]
			if !ok {
				t.Errorf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
				continue
			}
			data, items = cm.Data, v.ConfigMap.Items
		case v.Secret != nil:
			data = map[string]string{}
			if s, ok := r.secrets[v.Secret.SecretName]; ok {
				maps.Copy(data, s.StringData)
				for k, b := range s.Data {
					data[k] = string(b)
				}
			} else if keys, ok := tc.external[v.Secret.SecretName]; ok {
				maps.Copy(data, fakeSecrets(t, keys))
			} else {
				t.Errorf("volume %s: Secret %s is neither rendered nor expected in the cluster", v.Name, v.Secret.SecretName)
				continue
			}
			items = v.Secret.Items
		default:
			t.Errorf("volume %s: a kind the test does not know", v.Name)
			continue
		}
		if len(items) == 0 {
			for _, k := range slices.Sorted(maps.Keys(data)) {
				items = append(items, corev1.KeyToPath{Key: k, Path: k})
			}
		}
		for _, it := range items {
			val, ok := data[it.Key]
			if !ok {
				t.Errorf("volume %s: key %s is not in its source", v.Name, it.Key)
				continue
			}
			host := filepath.Join(dir, m.Name, it.Path)
			if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(host, []byte(val), 0o644); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(m.MountPath, it.Path)
			if m.SubPath != "" {
				if m.SubPath != it.Path {
					continue
				}
				target = m.MountPath
			}
			files[target] = host
		}
	}
	return files
}

// connectorFile matches a connector's secret file in the rendered pipeline,
// with the connector's id.
var connectorFile = regexp.MustCompile(`/etc/auditstream/connectors/([a-z0-9_-]+)/[A-Za-z0-9_.-]+`)

// checkPipeline loads the rendered pipeline file in every container, with
// only what that container mounts, as the process would at start, and
// returns it.
func checkPipeline(t *testing.T, r *rendered, tc chartCase) *config.Pipeline {
	t.Helper()
	if len(r.configMaps) != 1 {
		t.Fatalf("got %d ConfigMaps, want the pipeline's alone", len(r.configMaps))
	}
	var text string
	for _, cm := range r.configMaps {
		text = cm.Data["pipeline.yaml"]
	}
	rewrite := func(files map[string]string) []byte {
		keys := slices.Collect(maps.Keys(files))
		slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) })
		s := text
		for _, k := range keys {
			s = strings.ReplaceAll(s, k, files[k])
		}
		return []byte(s)
	}
	var pl *config.Pipeline
	for _, name := range slices.Sorted(maps.Keys(r.deployments)) {
		spec := r.deployments[name].Spec.Template.Spec
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			files := podFiles(t, r, tc, spec, c)
			cfg := flagValue(c.Args, "config")
			if _, ok := files[cfg]; !ok {
				t.Errorf("%s/%s: --config %q is not mounted", name, c.Name, cfg)
				continue
			}
			env := map[string]string{}
			for _, e := range c.Env {
				env[e.Name] = e.Value
			}
			isolateEnv(t, []byte(text), env)
			p, err := config.Parse("pipeline.yaml", rewrite(files))
			if err != nil {
				t.Errorf("%s/%s: the pipeline does not load with what the container mounts: %v", name, c.Name, err)
				continue
			}
			// The secrets the process resolves at start, from what the
			// container mounts alone. The destination blocks' own secrets
			// are the sinks' packages' (not importable here): that each
			// sink mounts its own connector's Secret is checkWorkloads'.
			scope := config.SecretScope{Kafka: true}
			if len(c.Args) > 1 && c.Args[1] == "run" {
				scope.Admin = true
			}
			if len(c.Args) > 1 && c.Args[0] == "sink" {
				id := flagValue(c.Args, "connector")
				scope.Connectors = []string{id}
				for _, m := range connectorFile.FindAllStringSubmatch(text, -1) {
					if _, ok := files[m[0]]; m[1] == id && !ok {
						t.Errorf("%s/%s: connector %s's secret file %s is not mounted", name, c.Name, id, m[0])
					}
				}
			}
			if err := p.CheckSecrets(scope); err != nil {
				t.Errorf("%s/%s: the secrets it uses do not resolve with what the container mounts: %v", name, c.Name, err)
				continue
			}
			pl = p
		}
	}
	if pl == nil {
		t.Fatal("no container loads the pipeline")
	}
	return pl
}

// checkWorkloads checks the router and the sinks: one sink Deployment per
// connector, running it; probes, ports and security; each connector's
// Secret its own.
func checkWorkloads(t *testing.T, r *rendered, pl *config.Pipeline, vals chartutil.Values) {
	t.Helper()
	_, adminPort, _ := net.SplitHostPort(pl.Router.Listen)
	routers, sinks := 0, map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(r.deployments)) {
		d := r.deployments[name]
		spec := d.Spec.Template.Spec
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s: the selector does not select its own pods (%v)", name, err)
		}
		checkPodSecurity(t, name, spec)
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", name, len(spec.Containers))
		}
		c := spec.Containers[0]
		var listen string
		var own string
		switch {
		case len(c.Args) > 1 && c.Args[0] == "router" && c.Args[1] == "run":
			routers++
			listen = pl.Router.Listen
		case len(c.Args) > 1 && c.Args[0] == "sink" && c.Args[1] == "run":
			id := flagValue(c.Args, "connector")
			conn, ok := pl.Connector(id)
			if !ok {
				t.Errorf("%s: --connector %q is not in the pipeline", name, id)
				continue
			}
			if prev, dup := sinks[id]; dup {
				t.Errorf("%s and %s both run connector %s", prev, name, id)
			}
			sinks[id] = name
			listen, own = conn.Listen, id
		default:
			t.Errorf("%s: args %q: neither `router run` nor `sink run`", name, c.Args)
			continue
		}
		_, port, err := net.SplitHostPort(listen)
		if err != nil || port != adminPort {
			t.Errorf("%s: listens on %q, want port %s like the rest", name, listen, adminPort)
		}
		if host, _, _ := net.SplitHostPort(listen); host == "127.0.0.1" || host == "localhost" {
			t.Errorf("%s: listens on %q: the kubelet's probes and Prometheus cannot reach it", name, listen)
		}
		var named int32
		for _, p := range c.Ports {
			if p.Name == "admin" {
				named = p.ContainerPort
			}
		}
		if strconv.Itoa(int(named)) != port {
			t.Errorf("%s: container port admin %d, the pipeline listens on %q", name, named, listen)
		}
		for _, pr := range []struct {
			what  string
			probe *corev1.Probe
			path  string
		}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				t.Errorf("%s: no %s probe", name, pr.what)
				continue
			}
			g := pr.probe.HTTPGet
			if g.Path != pr.path || (g.Port.String() != "admin" && g.Port.String() != port) {
				t.Errorf("%s: %s probe GET %s on %s, want %s on the admin port", name, pr.what, g.Path, g.Port.String(), pr.path)
			}
		}
		// Which connector Secrets the pod mounts: its own only (the router
		// none), since a process resolves only the secrets it uses.
		mounted := map[string]bool{}
		for _, v := range spec.Volumes {
			if id, ok := strings.CutPrefix(v.Name, "conn-"); ok {
				mounted[id] = true
			}
		}
		for id := range mounted {
			if id != own {
				t.Errorf("%s: mounts connector %s's Secret; a pod mounts its own connector's only", name, id)
			}
		}
	}
	if routers != 1 {
		t.Errorf("got %d router Deployments, want 1", routers)
	}
	for _, c := range pl.Connectors {
		if _, ok := sinks[c.ID]; !ok {
			t.Errorf("connector %s: no sink Deployment", c.ID)
		}
	}
	// Each connector's Secret is its own: no two connectors share one.
	conns, _ := vals["connectors"].([]any)
	secretOf := map[string]string{}
	for _, x := range conns {
		c, _ := x.(map[string]any)
		id, _ := c["id"].(string)
		if c["secrets"] == nil && c["existingSecret"] == nil {
			continue
		}
		name := "audit-auditstream-conn-" + id
		if e, ok := c["existingSecret"].(string); ok {
			name = e
		} else if _, ok := r.secrets[name]; !ok {
			t.Errorf("connector %s: no Secret %s rendered", id, name)
		}
		for other, n := range secretOf {
			if n == name {
				t.Errorf("connectors %s and %s share Secret %s", other, id, name)
			}
		}
		secretOf[id] = name
	}
}

func checkPodSecurity(t *testing.T, name string, spec corev1.PodSpec) {
	t.Helper()
	ps := spec.SecurityContext
	if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
		t.Errorf("%s: the pod does not run as a non-root user", name)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: mounts a service account token it never uses", name)
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s/%s: no securityContext", name, c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s/%s: the root filesystem is writable", name, c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s/%s: privilege escalation allowed", name, c.Name)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
			t.Errorf("%s/%s: capabilities not dropped", name, c.Name)
		}
		if c.Image == "" || strings.HasSuffix(c.Image, ":") {
			t.Errorf("%s/%s: image %q has no tag", name, c.Name, c.Image)
		}
	}
}

// checkAutoscaling checks each sink's ScaledObject: it targets that sink,
// reads the lag of that connector's own group and topic, on the pipeline's
// brokers and with its credentials, and never scales past the partitions.
func checkAutoscaling(t *testing.T, r *rendered, pl *config.Pipeline, tc chartCase) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(r.scaledObjects)) {
		so := r.scaledObjects[name]
		d, ok := r.deployments[so.Spec.ScaleTargetRef.Name]
		if !ok {
			t.Errorf("%s: scales %q, which is not a Deployment of the chart", name, so.Spec.ScaleTargetRef.Name)
			continue
		}
		if d.Spec.Replicas != nil {
			t.Errorf("%s: sets replicas while KEDA scales it; every upgrade would reset them", d.Name)
		}
		id := flagValue(d.Spec.Template.Spec.Containers[0].Args, "connector")
		max, min := so.Spec.MaxReplicaCount, so.Spec.MinReplicaCount
		if max == nil || *max < 1 || *max > pl.Topics.Connector.Partitions {
			t.Errorf("%s: maxReplicaCount %v, want 1 to %d (the connector topic's partitions)", name, deref(max), pl.Topics.Connector.Partitions)
		}
		if min == nil || *min < 1 || max != nil && *min > *max {
			t.Errorf("%s: minReplicaCount %v, want at least 1 and at most max", name, deref(min))
		}
		if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
			t.Fatalf("%s: want one kafka trigger", name)
		}
		tr := so.Spec.Triggers[0]
		md := tr.Metadata
		for _, want := range []struct{ key, val string }{
			{"bootstrapServers", strings.Join(pl.Kafka.Brokers, ",")},
			{"consumerGroup", pl.ConnectorGroup(id)},
			{"topic", pl.ConnectorTopic(id)},
			{"offsetResetPolicy", "earliest"}, // the sinks start a new group at the start
		} {
			if md[want.key] != want.val {
				t.Errorf("%s: %s %q, want %q", name, want.key, md[want.key], want.val)
			}
		}
		if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n < 1 {
			t.Errorf("%s: lagThreshold %q, want a positive count", name, md["lagThreshold"])
		}
		if md["allowIdleConsumers"] == "true" {
			t.Errorf("%s: allowIdleConsumers lets KEDA scale past the partitions", name)
		}
		checkTriggerAuth(t, r, pl, tc, name, tr.Metadata, tr.AuthenticationRef)
	}
	// Every autoscaled sink has its ScaledObject; every other has replicas.
	for name, d := range r.deployments {
		if !strings.Contains(name, "-sink-") {
			continue
		}
		if _, ok := r.scaledObjects[name]; !ok && d.Spec.Replicas == nil {
			t.Errorf("%s: neither replicas nor a ScaledObject", name)
		}
	}
}

func checkTriggerAuth(t *testing.T, r *rendered, pl *config.Pipeline, tc chartCase, name string, md map[string]string, ref *struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}) {
	t.Helper()
	tls, sasl := pl.Kafka.TLS != nil, pl.Kafka.SASL != nil
	if got := md["tls"] == "enable"; got != tls {
		t.Errorf("%s: tls %q, the pipeline's TLS is %v", name, md["tls"], tls)
	}
	wantSASL := map[string]string{"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
	if sasl && md["sasl"] != wantSASL[pl.Kafka.SASL.Mechanism] || !sasl && md["sasl"] != "" {
		t.Errorf("%s: sasl %q, the pipeline's mechanism is %v", name, md["sasl"], pl.Kafka.SASL)
	}
	if !tls && !sasl {
		if ref != nil {
			t.Errorf("%s: an authenticationRef to a plaintext cluster", name)
		}
		return
	}
	if ref == nil {
		t.Errorf("%s: no authenticationRef: KEDA cannot read the lag of a secured cluster", name)
		return
	}
	ta, ok := r.triggerAuths[ref.Name]
	if !ok {
		t.Errorf("%s: authenticationRef %q is not rendered", name, ref.Name)
		return
	}
	params := map[string]bool{}
	for _, s := range ta.Spec.SecretTargetRef {
		params[s.Parameter] = true
		keys := tc.external[s.Name]
		if sec, ok := r.secrets[s.Name]; ok {
			keys = slices.Collect(maps.Keys(sec.StringData))
		}
		if !slices.Contains(keys, s.Key) {
			t.Errorf("%s: parameter %s reads %s/%s, which does not exist", ref.Name, s.Parameter, s.Name, s.Key)
		}
	}
	var want []string
	if tls {
		want = append(want, "ca")
		if pl.Kafka.TLS.CertFile != "" {
			want = append(want, "cert", "key")
		}
	}
	if sasl {
		want = append(want, "username", "password")
	}
	for _, p := range want {
		if !params[p] {
			t.Errorf("%s: no %s parameter", ref.Name, p)
		}
	}
}

func deref(p *int32) any {
	if p == nil {
		return nil
	}
	return *p
}

// checkDisruptionAndMonitoring checks that every Deployment has a
// PodDisruptionBudget and a Service selecting exactly its pods, and that
// the ServiceMonitor scrapes every such Service's admin port.
func checkDisruptionAndMonitoring(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.serviceMonitors) != 1 {
		t.Fatalf("got %d ServiceMonitors, want 1", len(r.serviceMonitors))
	}
	var sm *monitoringv1.ServiceMonitor
	for _, x := range r.serviceMonitors {
		sm = x
	}
	smSel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v: want /metrics on port admin", sm.Spec.Endpoints)
	}
	for _, name := range slices.Sorted(maps.Keys(r.deployments)) {
		pods := labels.Set(r.deployments[name].Spec.Template.Labels)
		pdbs := 0
		for _, p := range r.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err == nil && sel.Matches(pods) {
				pdbs++
				if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
					t.Errorf("%s: neither maxUnavailable nor minAvailable", p.Name)
				}
			}
		}
		if pdbs != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets select its pods, want 1", name, pdbs)
		}
		svc, ok := r.services[name]
		if !ok {
			t.Errorf("%s: no Service of the same name", name)
			continue
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(pods) {
			t.Errorf("%s: its Service does not select its pods", name)
		}
		if !smSel.Matches(labels.Set(svc.Labels)) {
			t.Errorf("%s: the ServiceMonitor does not select its Service", name)
		}
		if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "admin" }) {
			t.Errorf("%s: its Service has no admin port", name)
		}
		for other, s := range r.services {
			if other != name && len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
				t.Errorf("%s: Service %s selects its pods too (scraped twice)", name, other)
			}
		}
	}
}

// checkNetworkPolicies checks that every pod is isolated both ways, takes
// connections on its admin port only, and may reach DNS and the brokers.
func checkNetworkPolicies(t *testing.T, r *rendered, pl *config.Pipeline) {
	t.Helper()
	var brokerPorts []int32
	for _, b := range pl.Kafka.Brokers {
		_, p, _ := net.SplitHostPort(b)
		n, _ := strconv.Atoi(p)
		brokerPorts = append(brokerPorts, int32(n))
	}
	for _, name := range slices.Sorted(maps.Keys(r.deployments)) {
		pods := labels.Set(r.deployments[name].Spec.Template.Labels)
		var np *networkingv1.NetworkPolicy
		for _, p := range r.netpols {
			sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
			if err == nil && sel.Matches(pods) {
				if np != nil {
					t.Errorf("%s: selected by NetworkPolicies %s and %s", name, np.Name, p.Name)
				}
				np = p
			}
		}
		if np == nil {
			t.Errorf("%s: no NetworkPolicy selects its pods", name)
			continue
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Errorf("%s: policy types %v, want Ingress and Egress", np.Name, np.Spec.PolicyTypes)
		}
		for _, in := range np.Spec.Ingress {
			if len(in.Ports) == 0 || len(in.From) == 0 {
				t.Errorf("%s: an ingress rule open to every port or every peer", np.Name)
			}
			for _, p := range in.Ports {
				if p.Port == nil || p.Port.String() != "admin" {
					t.Errorf("%s: ingress on %v, want the admin port only", np.Name, p.Port)
				}
			}
		}
		allowed := func(port int32, proto corev1.Protocol) bool {
			for _, e := range np.Spec.Egress {
				for _, p := range e.Ports {
					if p.Port != nil && p.Port.IntValue() == int(port) && (p.Protocol == nil || *p.Protocol == proto) {
						return true
					}
				}
			}
			return false
		}
		if !allowed(53, corev1.ProtocolUDP) || !allowed(53, corev1.ProtocolTCP) {
			t.Errorf("%s: no egress to DNS", np.Name)
		}
		for _, p := range brokerPorts {
			if !allowed(p, corev1.ProtocolTCP) {
				t.Errorf("%s: no egress to the brokers' port %d", np.Name, p)
			}
		}
		// A sink reaches its destination: the port of its S3 endpoint or
		// Datadog URL, else HTTPS.
		c := r.deployments[name].Spec.Template.Spec.Containers[0]
		conn, ok := pl.Connector(flagValue(c.Args, "connector"))
		if !ok {
			continue
		}
		dest := "https://default"
		if d := destinationOf(t, conn); d.Endpoint != "" {
			dest = d.Endpoint
		} else if d.URL != "" {
			dest = d.URL
		}
		u, err := url.Parse(dest)
		if err != nil {
			t.Fatal(err)
		}
		port := map[string]int{"http": 80, "https": 443}[u.Scheme]
		if u.Port() != "" {
			port, _ = strconv.Atoi(u.Port())
		}
		if !allowed(int32(port), corev1.ProtocolTCP) {
			t.Errorf("%s: no egress to %s's destination %s (port %d)", np.Name, conn.ID, dest, port)
		}
	}
}

// TestChartValuesDocumented checks that values.yaml, the chart's reference,
// names every key the templates read from .Values.
func TestChartValuesDocumented(t *testing.T) {
	vals, err := chartutil.ReadValuesFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile(`\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)`)
	entries, err := os.ReadDir(filepath.Join(chartDir, "templates"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(chartDir, "templates", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllSubmatch(b, -1) {
			path := strings.TrimPrefix(string(m[1]), ".")
			if _, err := vals.PathValue(path); err != nil {
				if _, terr := vals.Table(path); terr != nil {
					t.Errorf("%s: .Values.%s is not in values.yaml", e.Name(), path)
				}
			}
		}
	}
}
