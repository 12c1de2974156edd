package deploy

// The Grafana dashboard (grafana/auditstream.json) and the alerting rules
// (prometheus/alerts.yml): every query parses as PromQL, and the copies
// that the compose file and the Helm chart ship are the same rules. That
// every metric they name is served by the running services is checked by
// TestEveryQueriedMetricIsServed, which needs the stack.

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

const (
	dashboardFile  = "grafana/auditstream.json"
	rulesFile      = "prometheus/alerts.yml"
	chartRulesFile = "helm/auditstream/files/alerts.yml"
)

// query is one PromQL expression of the dashboard or the rules, and where
// it is.
type query struct {
	where, expr string
}

// grafanaVar is a dashboard variable in a query: $name, ${name} or
// ${name:format}.
var grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// promQL turns a dashboard query into PromQL: Grafana's interval variables
// become a duration, any other variable (always a label matcher's value
// here) a regular expression that matches anything.
func promQL(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		m := grafanaVar.FindStringSubmatch(v)
		name := m[1] + m[2]
		switch name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		case "__range_s", "__interval_ms":
			return "300"
		}
		return ".*"
	})
}

// labelValues matches a query variable's label_values(selector, label).
var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*(\w+)\s*\)\s*$`)

// dashboardQueries returns every query of the dashboard: its panels'
// targets (rows' nested panels included) and its query variables.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var qs []query
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				qs = append(qs, query{where: dashboardFile + ": panel " + strconv.Quote(p.Title) + " " + tg.RefID, expr: promQL(tg.Expr)})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// The query is a string, or an object with one, by Grafana version.
		var s string
		if json.Unmarshal(v.Query, &s) != nil {
			var o struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &o); err != nil {
				t.Fatalf("%s: variable %s: query %s: %v", dashboardFile, v.Name, v.Query, err)
			}
			s = o.Query
		}
		m := labelValues.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("%s: variable %s: %q is not label_values(selector, label), the one form this test reads", dashboardFile, v.Name, s)
		}
		qs = append(qs, query{where: dashboardFile + ": variable " + v.Name, expr: promQL(m[1])})
	}
	return qs
}

type dashPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

// ruleGroups is the rules file, as Prometheus reads it.
type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// ruleQueries returns the expression of every rule of the rules file.
func ruleQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rg ruleGroups
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&rg); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var qs []query
	for _, g := range rg.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{where: rulesFile + ": " + g.Name + "/" + r.Alert + r.Record, expr: r.Expr})
		}
	}
	return qs
}

// selectors returns, per metric name an expression selects, the label
// names its matchers use and the label names that an aggregation around
// it groups by (which the series must have for the result to mean
// anything).
func selectors(expr parser.Expr) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var visit func(n parser.Node, grouping []string)
	visit = func(n parser.Node, grouping []string) {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := n.Name
			for _, m := range n.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			if out[name] == nil {
				out[name] = map[string]bool{}
			}
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" {
					out[name][m.Name] = true
				}
			}
			for _, l := range grouping {
				out[name][l] = true
			}
			return
		case *parser.AggregateExpr:
			if !n.Without {
				// The innermost grouping is the one the series must have:
				// an outer one may group by what the inner one kept.
				grouping = n.Grouping
			}
		}
		for _, c := range parser.Children(n) {
			visit(c, grouping)
		}
	}
	visit(expr, nil)
	return out
}

// TestObservabilityQueriesParse parses every query of the dashboard and
// the rules as PromQL and checks that each selects metrics by name.
func TestObservabilityQueriesParse(t *testing.T) {
	qs := append(dashboardQueries(t), ruleQueries(t)...)
	if len(qs) < 20 {
		t.Fatalf("got %d queries in the dashboard and the rules; the test reads too few", len(qs))
	}
	for _, q := range qs {
		expr, err := parser.ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, q.expr)
			continue
		}
		sel := selectors(expr)
		if len(sel) == 0 {
			t.Errorf("%s: selects no metric: %s", q.where, q.expr)
		}
		for name := range sel {
			if name == "" {
				t.Errorf("%s: a selector without a metric name: %s", q.where, q.expr)
			}
		}
	}
}

// TestDashboardShape checks what Grafana would otherwise fix silently or
// show wrong: unique panel ids, panels inside the 24-column grid, every
// query panel on the dashboard's data source variable.
func TestDashboardShape(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string      `json:"uid"`
		Title  string      `json:"title"`
		Panels []dashPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: want both set, so that provisioning updates one dashboard", d.UID, d.Title)
	}
	ids := map[int]string{}
	for _, p := range d.Panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel id %d: %q and %q", p.ID, prev, p.Title)
		}
		ids[p.ID] = p.Title
		if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
	}
}

// TestChartAlertsAreTheRulesFile: the chart's PrometheusRule carries
// exactly the rules of prometheus/alerts.yml. Helm reads files inside the
// chart only, so the chart holds a copy.
func TestChartAlertsAreTheRulesFile(t *testing.T) {
	want, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(chartRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from %s: cp %s %s", chartRulesFile, rulesFile, rulesFile, chartRulesFile)
	}
	var spec monitoringv1.PrometheusRuleSpec
	if err := sigsyaml.UnmarshalStrict(want, &spec); err != nil {
		t.Fatalf("%s as a PrometheusRule spec: %v", rulesFile, err)
	}
	for _, tc := range []struct {
		name   string
		values []string
		rules  int
	}{
		{"default", nil, 1},
		{"disabled", []string{writeValues(t, "metrics: {prometheusRule: {enabled: false}}")}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := renderChart(t, append([]string{"helm/testdata/minimal.yaml"}, tc.values...)...)
			if err != nil {
				t.Fatal(err)
			}
			r := decode(t, files)
			if len(r.prometheusRules) != tc.rules {
				t.Fatalf("got %d PrometheusRules, want %d", len(r.prometheusRules), tc.rules)
			}
			for name, pr := range r.prometheusRules {
				if !reflect.DeepEqual(pr.Spec, spec) {
					t.Errorf("PrometheusRule %s: its spec is not %s's rules", name, rulesFile)
				}
			}
		})
	}
}

func writeValues(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestComposePrometheusLoadsTheRules: prometheus.yml's rule_files, resolved
// as Prometheus does (relative to the config file's directory), name the
// rules file in the container of the compose file's Prometheus.
func TestComposePrometheusLoadsTheRules(t *testing.T) {
	root := repoRoot(t)
	p := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	s, err := p.GetService("prometheus")
	if err != nil {
		t.Fatal(err)
	}
	m := mounts(p, s, hostFile{root: root})
	var confTarget string
	for target, host := range m {
		if host == filepath.Join(root, "deploy", "prometheus.yml") {
			confTarget = target
		}
	}
	if confTarget == "" {
		t.Fatalf("the prometheus service does not mount deploy/prometheus.yml: %v", m)
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	if err := yaml.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	var loaded []string
	for _, f := range conf.RuleFiles {
		if !path.IsAbs(f) {
			f = path.Join(path.Dir(confTarget), f)
		}
		host, ok := m[f]
		if !ok {
			t.Errorf("rule_files names %s, which the prometheus service does not mount", f)
			continue
		}
		loaded = append(loaded, host)
	}
	if want := filepath.Join(root, "deploy", rulesFile); !slices.Contains(loaded, want) {
		t.Errorf("the compose file's Prometheus loads the rules %v, want %s among them", loaded, want)
	}
}

// served is what the services' /metrics expose: per series name (a
// histogram's _bucket, _sum and _count), the label names of its samples.
type served map[string]map[string]bool

// synthetic are the series Prometheus makes itself for every target.
var synthetic = map[string]bool{"up": true}

// unserved compares what the queries select with what is served, and
// returns one line per metric that is not served and per label a query
// uses that the metric does not have.
func unserved(qs []query, srv served) (missing map[string][]string, badLabels []string) {
	missing = map[string][]string{}
	for _, q := range qs {
		expr, err := parser.ParseExpr(q.expr)
		if err != nil {
			continue // TestObservabilityQueriesParse reports it
		}
		for name, labels := range selectors(expr) {
			if synthetic[name] {
				continue
			}
			have, ok := srv[name]
			if !ok {
				missing[name] = append(missing[name], q.where)
				continue
			}
			for l := range labels {
				if l == "job" || l == "instance" { // added by the scrape
					continue
				}
				if !have[l] {
					badLabels = append(badLabels, q.where+": "+name+" has no label "+strconv.Quote(l)+" (it has "+strings.Join(slices.Sorted(maps.Keys(have)), ", ")+")")
				}
			}
		}
	}
	return missing, badLabels
}

// TestUnserved checks the comparison itself on a small exposition.
func TestUnserved(t *testing.T) {
	srv := served{
		"a_total":          {"connector": true},
		"h_seconds_bucket": {"connector": true, "le": true},
	}
	qs := []query{
		{"ok", `sum by (connector) (rate(a_total[5m]))`},
		{"histogram", `histogram_quantile(0.9, sum by (le, connector) (rate(h_seconds_bucket{connector=~".*"}[5m])))`},
		{"missing", `rate(b_total[5m])`},
		{"label", `sum by (reason) (rate(a_total[5m]))`},
		{"synthetic", `up{job="x"} == 0`},
		{"outer grouping", `sum(max by (connector) (a_total))`},
	}
	missing, bad := unserved(qs, srv)
	if got, want := slices.Sorted(maps.Keys(boolSet(missing))), []string{"b_total"}; !slices.Equal(got, want) {
		t.Errorf("missing: got %v, want %v", got, want)
	}
	if len(bad) != 1 || !strings.HasPrefix(bad[0], "label: a_total has no label \"reason\"") {
		t.Errorf("bad labels: got %q, want one for label", bad)
	}
}

func boolSet(m map[string][]string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}
