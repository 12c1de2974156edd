package deploy

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// isolateEnv makes the pipeline's {env: NAME} secret references see the
// environment a container has, not the test's: each name the container
// does not set is emptied for the test (the loader treats an empty
// variable as unset), and each name it sets gets its value.
func isolateEnv(t *testing.T, pipeline []byte, env map[string]string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(pipeline, &doc); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "env" && n.Content[1].Kind == yaml.ScalarNode {
			t.Setenv(n.Content[1].Value, "")
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func TestIsolateEnv(t *testing.T) {
	t.Setenv("AUDITSTREAM_TEST_LEAK", "from-the-test-process")
	t.Run("blanked", func(t *testing.T) {
		isolateEnv(t, []byte("datadog:\n  api_key: {env: AUDITSTREAM_TEST_LEAK}\n  tags: [env:prod]\n"), nil)
		if got := getenv("AUDITSTREAM_TEST_LEAK"); got != "" {
			t.Errorf("got %q, want the test's value hidden", got)
		}
	})
	t.Run("set by the container", func(t *testing.T) {
		isolateEnv(t, []byte("api_key:\n  env: AUDITSTREAM_TEST_LEAK\n"), map[string]string{"AUDITSTREAM_TEST_LEAK": "c"})
		if got := getenv("AUDITSTREAM_TEST_LEAK"); got != "c" {
			t.Errorf("got %q, want the container's value", got)
		}
	})
}
