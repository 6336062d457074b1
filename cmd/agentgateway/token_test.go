package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"

	"github.com/agentgateway-go/agentgateway/internal/devissuer"
)

func TestTokenCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	code, _, errs := runCLI(t, nil, "token", "--sub", "a", "--state-dir", dir)
	if code != 1 || !strings.Contains(errs, "agentgateway demo") {
		t.Fatalf("no key yet: exit %d\n%s", code, errs)
	}
	key, _, err := devissuer.LoadOrCreateKey(dir, "ES256")
	if err != nil {
		t.Fatal(err)
	}

	code, out, errs := runCLI(t, nil, "token", "--sub", devissuer.SubjectPlanningAgent, "--state-dir", dir,
		"--aud", "agent-gateway", "--aud", "other", "--ttl", "10m")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	tok := strings.TrimSpace(out)
	claims := jwtlib.MapClaims{}
	if _, err := jwtlib.ParseWithClaims(tok, claims, func(*jwtlib.Token) (any, error) { return key.Public(), nil }); err != nil {
		t.Fatal(err)
	}
	exp, _ := claims.GetExpirationTime()
	aud, _ := claims.GetAudience()
	if claims["sub"] != devissuer.SubjectPlanningAgent || claims["iss"] != devissuer.DefaultIssuer || len(aud) != 2 ||
		time.Until(exp.Time) > 10*time.Minute || time.Until(exp.Time) < 9*time.Minute {
		t.Errorf("claims = %v", claims)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"token"}, 2, "--sub SUBJECT is required"},
		{[]string{"token", "--sub", "a", "extra"}, 2, "unexpected argument \"extra\""},
		{[]string{"token", "--sub", "a", "--ttl", "48h", "--state-dir", dir}, 2, "out of range"},
		{[]string{"token", "--sub", "system:serviceaccount:x", "--state-dir", dir}, 2, "not system:serviceaccount"},
		{[]string{"token", "-h"}, 0, "DEVELOPMENT ONLY"},
		{[]string{"help"}, 0, "DEVELOPMENT ONLY"},
	} {
		code, out, errs := runCLI(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(out+errs, tt.want) {
			t.Errorf("%v: exit %d, want %d and %q\n%s%s", tt.args, code, tt.code, tt.want, out, errs)
		}
	}
}
