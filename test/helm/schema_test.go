package helm

import (
	"strings"
	"testing"
)

// TestValuesSchema: values.schema.json refuses wrongly typed, misspelt and
// out-of-set values at `helm template` (and install, upgrade, lint), with a
// message naming the value, before any template runs.
func TestValuesSchema(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"string for an integer", []string{"--set", "replicaCount=two"},
			[]string{"values don't meet the specifications of the schema", "/replicaCount", "got string, want integer"}},
		{"misspelt top-level key", []string{"--set", "replicas=2"},
			[]string{"additional properties 'replicas' not allowed"}},
		{"misspelt nested key", []string{"--set", "serviceAccount.automount=true"},
			[]string{"/serviceAccount", "additional properties 'automount' not allowed"}},
		{"validation mode out of set", []string{"--set", "security.jwt.validation=token-review"},
			[]string{"/security/jwt/validation", "jwks", "tokenreview", "both"}},
		{"port out of range", []string{"--set", "gateway.port=70000"},
			[]string{"/gateway/port", "70000"}},
		{"list for a map", []string{"--set", "podAnnotations={a,b}"},
			[]string{"/podAnnotations", "got array, want object"}},
		{"bool as string", []string{"--set-string", "networkPolicy.enabled=yes"},
			[]string{"/networkPolicy/enabled", "got string, want boolean"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runHelm(t, append([]string{"template", release, chartRel, "--namespace", namespace}, c.args...)...)
			if err == nil {
				t.Fatal("helm template accepted it")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// The schema leaves pass-through maps open and takes the forms the
	// templates accept (null for "derived", quantities as strings or
	// numbers).
	template(t, "--set", "resources.limits.cpu=2", "--set", "affinity.nodeAffinity.x=y",
		"--set", "terminationGracePeriodSeconds=40", "--set", "service.metricsPort=9090",
		"--set", "resourceQuota.enabled=true", "--set", "resourceQuota.hard.pods=10",
		"--set", "podDisruptionBudget.enabled=true", "--set", "podDisruptionBudget.minAvailable=50%")
}
