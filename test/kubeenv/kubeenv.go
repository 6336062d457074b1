// Package kubeenv runs a real Kubernetes control plane on loopback for
// tests: etcd v3.6.5 and kube-apiserver v1.37.2, built from the Go module
// proxy by scripts/kube-bins.sh into .cache/kube/bin/ (`make kube`).
//
//	c := kubeenv.Start(t, kubeenv.Options{})
//	c.CreateNamespace(t, "agents")
//	c.CreateServiceAccount(t, "agents", "planner")
//	tok := c.Token(t, "agents", "planner", []string{"agent-gateway"}, 600)
//
// The API server signs ServiceAccount tokens with an RSA key generated per
// cluster, with issuer https://kubernetes.default.svc, and serves
// /openid/v1/jwks and the TokenReview API like a real cluster (it is one,
// without nodes or controllers). Talking to it takes plain net/http and
// encoding/json; AdminToken is a static token in group system:masters.
//
// When the binaries are missing the test is skipped, except in CI
// (CI=true), where it fails.
package kubeenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/agentgateway-go/agentgateway/internal/testbin"
)

// Defaults of a cluster.
const (
	DefaultIssuer   = "https://kubernetes.default.svc"
	DefaultAudience = "agent-gateway"
)

// Bounds on start-up. /readyz usually answers within 20 s on 2 cores.
const (
	etcdTimeout      = 60 * time.Second
	apiserverTimeout = 90 * time.Second
	stopTimeout      = 15 * time.Second
)

// Options tunes a cluster. The zero value is what the e2e tests use.
type Options struct {
	// APIAudiences is --api-audiences (default [agent-gateway]).
	APIAudiences []string
	// Issuer is --service-account-issuer (default DefaultIssuer).
	Issuer string
}

// Cluster is a running etcd + kube-apiserver pair.
type Cluster struct {
	// URL is https://127.0.0.1:<port>.
	URL string
	// CAPEM is the CA that signed the serving certificate; CAFile holds it.
	CAPEM  []byte
	CAFile string
	// AdminToken is a static token of user "admin" in system:masters.
	AdminToken string
	// Issuer is the ServiceAccount token issuer.
	Issuer string
	// Dir holds the keys, certificates, data and logs.
	Dir string

	client *http.Client
	procs  []*proc
	once   sync.Once
}

// BinDir is where kube-apiserver and etcd are looked for: $KUBE_BIN_DIR,
// else .cache/kube/bin under the main module's root.
func BinDir() string {
	if d := os.Getenv("KUBE_BIN_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join(".cache", "kube", "bin")
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(b), []byte("module github.com/agentgateway-go/agentgateway\n")) {
			return filepath.Join(dir, ".cache", "kube", "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join(".cache", "kube", "bin")
		}
		dir = parent
	}
}

// Binaries returns the paths of etcd and kube-apiserver. When one is
// missing it skips the test, or fails it in CI.
func Binaries(t testing.TB) (etcd, apiserver string) {
	t.Helper()
	dir := BinDir()
	etcd, apiserver = filepath.Join(dir, "etcd"), filepath.Join(dir, "kube-apiserver")
	for _, p := range []string{etcd, apiserver} {
		testbin.Executable(t, p, "build it with `make kube` (scripts/kube-bins.sh)")
	}
	return etcd, apiserver
}

// Start starts etcd and kube-apiserver and waits until /readyz answers.
// Both are stopped when the test ends (and killed if the test binary
// dies).
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	etcdBin, apiBin := Binaries(t)
	if len(opts.APIAudiences) == 0 {
		opts.APIAudiences = []string{DefaultAudience}
	}
	if opts.Issuer == "" {
		opts.Issuer = DefaultIssuer
	}
	dir := t.TempDir()
	c := &Cluster{Dir: dir, Issuer: opts.Issuer}
	t.Cleanup(c.Stop)
	if err := c.start(etcdBin, apiBin, opts); err != nil {
		c.Stop()
		t.Fatalf("kubeenv: %v", err)
	}
	return c
}

func (c *Cluster) start(etcdBin, apiBin string, opts Options) error {
	pki := filepath.Join(c.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	caPEM, certPEM, keyPEM, err := servingCert()
	if err != nil {
		return err
	}
	saKeyPEM, saPubPEM, err := saKeys()
	if err != nil {
		return err
	}
	tokBytes := make([]byte, 24)
	_, _ = rand.Read(tokBytes)
	c.AdminToken = hex.EncodeToString(tokBytes)
	c.CAPEM, c.CAFile = caPEM, filepath.Join(pki, "ca.crt")
	files := map[string][]byte{
		"ca.crt":      caPEM,
		"serving.crt": certPEM,
		"serving.key": keyPEM,
		"sa.key":      saKeyPEM,
		"sa.pub":      saPubPEM,
		"tokens.csv":  fmt.Appendf(nil, "%s,admin,admin,\"system:masters\"\n", c.AdminToken),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(pki, name), b, 0o600); err != nil {
			return err
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c.client = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}

	// etcd
	clientPort, peerPort := freePort(), freePort()
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	etcd, err := c.run("etcd", etcdBin,
		"--name=default",
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	if err := waitFor(etcd, etcdTimeout, func() bool {
		resp, err := http.Get(etcdURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && bytes.Contains(b, []byte(`"true"`))
	}); err != nil {
		return err
	}

	// kube-apiserver
	port := freePort()
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	api, err := c.run("kube-apiserver", apiBin,
		"--etcd-servers="+etcdURL,
		"--service-account-issuer="+opts.Issuer,
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--api-audiences="+strings.Join(opts.APIAudiences, ","),
		"--authorization-mode=Node,RBAC",
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(c.Dir, "certs"),
		"--tls-cert-file="+filepath.Join(pki, "serving.crt"),
		"--tls-private-key-file="+filepath.Join(pki, "serving.key"),
		"--token-auth-file="+filepath.Join(pki, "tokens.csv"),
		"--service-cluster-ip-range=10.96.0.0/24",
		fmt.Sprintf("--secure-port=%d", port),
	)
	if err != nil {
		return err
	}
	return waitFor(api, apiserverTimeout, func() bool {
		st, _, err := c.Do(context.Background(), http.MethodGet, "/readyz", c.AdminToken, nil)
		return err == nil && st == 200
	})
}

// proc is a child process with its log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

func (c *Cluster) run(name, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(c.Dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = c.Dir
	// Killed with the test binary, even when it is killed itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return p, nil
}

// waitFor polls ok until it holds, the process exits or d passes.
func waitFor(p *proc, d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, tail(p.logPath, 40))
		default:
		}
		if ok() {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s\n%s", p.name, d, tail(p.logPath, 40))
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// Stop stops kube-apiserver, then etcd (SIGTERM, then SIGKILL after 15 s).
// It is safe to call more than once.
func (c *Cluster) Stop() {
	c.once.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			p := c.procs[i]
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(stopTimeout):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if c.client != nil {
			c.client.CloseIdleConnections()
		}
	})
}

// Logs returns the last n lines of the API server's log.
func (c *Cluster) Logs(n int) string { return tail(filepath.Join(c.Dir, "kube-apiserver.log"), n) }

// HTTPClient returns a client that trusts the cluster CA.
func (c *Cluster) HTTPClient() *http.Client { return c.client }

// Do sends a request to the API server with token (none if ""), body
// marshalled as JSON unless it is a []byte, and returns the status and the
// response body.
func (c *Cluster) Do(ctx context.Context, method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, b, err
}

// mustDo is Do as admin, failing the test unless the status is one of want.
func (c *Cluster) mustDo(t testing.TB, method, path string, body any, want ...int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, b, err := c.Do(ctx, method, path, c.AdminToken, body)
	if err != nil {
		t.Fatalf("kubeenv: %s %s: %v", method, path, err)
	}
	for _, w := range want {
		if st == w {
			return b
		}
	}
	t.Fatalf("kubeenv: %s %s: status %d: %s", method, path, st, truncate(b, 2000))
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// CreateNamespace creates namespace name (it may exist).
func (c *Cluster) CreateNamespace(t testing.TB, name string) {
	t.Helper()
	c.mustDo(t, http.MethodPost, "/api/v1/namespaces", map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name},
	}, http.StatusCreated, http.StatusConflict)
}

// CreateServiceAccount creates ServiceAccount ns/name and returns its UID.
func (c *Cluster) CreateServiceAccount(t testing.TB, ns, name string) string {
	t.Helper()
	b := c.mustDo(t, http.MethodPost, "/api/v1/namespaces/"+url.PathEscape(ns)+"/serviceaccounts", map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": name},
	}, http.StatusCreated)
	var out struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(b, &out)
	return out.Metadata.UID
}

// DeleteServiceAccount deletes ServiceAccount ns/name and waits until it is
// gone.
func (c *Cluster) DeleteServiceAccount(t testing.TB, ns, name string) {
	t.Helper()
	path := "/api/v1/namespaces/" + url.PathEscape(ns) + "/serviceaccounts/" + url.PathEscape(name)
	c.mustDo(t, http.MethodDelete, path, nil, http.StatusOK, http.StatusAccepted)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, _, err := c.Do(context.Background(), http.MethodGet, path, c.AdminToken, nil)
		if err == nil && st == http.StatusNotFound {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("kubeenv: ServiceAccount %s/%s still exists", ns, name)
}

// Token requests a token for ServiceAccount ns/sa, like `kubectl create
// token --audience … --duration …`. expirationSeconds must be at least
// 600 (the API server's minimum).
func (c *Cluster) Token(t testing.TB, ns, sa string, audiences []string, expirationSeconds int64) string {
	t.Helper()
	b := c.mustDo(t, http.MethodPost,
		"/api/v1/namespaces/"+url.PathEscape(ns)+"/serviceaccounts/"+url.PathEscape(sa)+"/token",
		map[string]any{
			"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
			"spec": map[string]any{"audiences": audiences, "expirationSeconds": expirationSeconds},
		}, http.StatusCreated)
	var out struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Status.Token == "" {
		t.Fatalf("kubeenv: TokenRequest for %s/%s: no token (%v)", ns, sa, err)
	}
	return out.Status.Token
}

// TokenFile writes tok to a file (mode 0600) in a test temp dir and returns
// its path.
func TokenFile(t testing.TB, tok string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Kubeconfig writes a kubeconfig for server (default c.URL) with the
// cluster CA and token, and returns its path.
func (c *Cluster) Kubeconfig(t testing.TB, server, token string) string {
	t.Helper()
	if server == "" {
		server = c.URL
	}
	cfg := map[string]any{
		"apiVersion": "v1", "kind": "Config", "current-context": "test",
		"clusters": []any{map[string]any{"name": "test", "cluster": map[string]any{
			"server": server, "certificate-authority-data": c.CAPEM}}},
		"users":    []any{map[string]any{"name": "test", "user": map[string]any{"token": token}}},
		"contexts": []any{map[string]any{"name": "test", "context": map[string]any{"cluster": "test", "user": "test"}}},
	}
	b, err := json.Marshal(cfg) // JSON is YAML; []byte becomes base64, as kubeconfig wants
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// resources maps the kinds ApplyManifest knows to their collection paths
// ("%s" is the namespace).
var resources = map[string]string{
	"v1/Namespace":      "/api/v1/namespaces",
	"v1/ServiceAccount": "/api/v1/namespaces/%s/serviceaccounts",
	"rbac.authorization.k8s.io/v1/ClusterRole":        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
	"rbac.authorization.k8s.io/v1/Role":               "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/roles",
	"rbac.authorization.k8s.io/v1/RoleBinding":        "/apis/rbac.authorization.k8s.io/v1/namespaces/%s/rolebindings",
}

// ApplyManifest creates (or replaces) every object of a multi-document
// YAML file, like `kubectl apply -f`, for the kinds in resources.
func (c *Cluster) ApplyManifest(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			t.Fatalf("kubeenv: %s: %v", path, err)
		}
		if obj == nil {
			continue
		}
		c.Apply(t, obj)
	}
}

// Apply creates obj, or replaces it if it exists.
func (c *Cluster) Apply(t testing.TB, obj map[string]any) {
	t.Helper()
	av, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	coll, ok := resources[av+"/"+kind]
	if !ok || name == "" {
		t.Fatalf("kubeenv: cannot apply %s %s %q", av, kind, name)
	}
	if strings.Contains(coll, "%s") {
		if ns == "" {
			ns = "default"
		}
		coll = fmt.Sprintf(coll, url.PathEscape(ns))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, b, err := c.Do(ctx, http.MethodPost, coll, c.AdminToken, obj)
	switch {
	case err != nil:
		t.Fatalf("kubeenv: creating %s %s: %v", kind, name, err)
	case st == http.StatusCreated:
		return
	case st != http.StatusConflict:
		t.Fatalf("kubeenv: creating %s %s: status %d: %s", kind, name, st, truncate(b, 2000))
	}
	item := coll + "/" + url.PathEscape(name)
	var cur struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(c.mustDo(t, http.MethodGet, item, nil, http.StatusOK), &cur)
	meta["resourceVersion"] = cur.Metadata.ResourceVersion
	c.mustDo(t, http.MethodPut, item, obj, http.StatusOK)
}

// WaitAllowed waits (at most 30 s) until the authorizer allows user (a
// ServiceAccount username gets its groups) verb on group/resource, as a
// SubjectAccessReview sees it: RBAC changes take effect asynchronously.
func (c *Cluster) WaitAllowed(t testing.TB, user, verb, group, resource string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		allowed, reason := c.Allowed(t, user, verb, group, resource)
		if allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubeenv: %s may not %s %s.%s: %s", user, verb, resource, group, reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Allowed asks once, with a SubjectAccessReview, whether user (a
// ServiceAccount username gets its groups) may verb group/resource. To
// check that something is denied, first WaitAllowed on a rule bound in the
// same change, so the authorizer has seen it.
func (c *Cluster) Allowed(t testing.TB, user, verb, group, resource string) (allowed bool, reason string) {
	t.Helper()
	groups := []string{"system:authenticated"}
	if rest, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		ns, _, _ := strings.Cut(rest, ":")
		groups = append(groups, "system:serviceaccounts", "system:serviceaccounts:"+ns)
	}
	sar := map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
		"spec": map[string]any{"user": user, "groups": groups, "resourceAttributes": map[string]any{
			"verb": verb, "group": group, "resource": resource}},
	}
	b := c.mustDo(t, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar, http.StatusCreated)
	var out struct {
		Status struct {
			Allowed bool   `json:"allowed"`
			Reason  string `json:"reason"`
		} `json:"status"`
	}
	_ = json.Unmarshal(b, &out)
	return out.Status.Allowed, out.Status.Reason
}

// TokenReview asks the API server (as admin) about tok, for audiences.
func (c *Cluster) TokenReview(t testing.TB, tok string, audiences []string) (authenticated bool, username string, statusAudiences []string) {
	t.Helper()
	b := c.mustDo(t, http.MethodPost, "/apis/authentication.k8s.io/v1/tokenreviews", map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
		"spec": map[string]any{"token": tok, "audiences": audiences},
	}, http.StatusCreated)
	var out struct {
		Status struct {
			Authenticated bool     `json:"authenticated"`
			Audiences     []string `json:"audiences"`
			User          struct {
				Username string `json:"username"`
			} `json:"user"`
		} `json:"status"`
	}
	_ = json.Unmarshal(b, &out)
	return out.Status.Authenticated, out.Status.User.Username, out.Status.Audiences
}

// freePort returns a loopback port that was free a moment ago. It picks
// above the kernel's ephemeral range when there is room (61000-65535 with
// the default range): outgoing connections cannot take it, and neither can
// the e2e harness, which picks below the ephemeral range. The API server
// binds its port seconds after the pick, so the pick must be out of
// everyone's way.
func freePort() int {
	lo, hi := 10000, 20000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var elo, ehi int
		if _, err := fmt.Sscan(string(b), &elo, &ehi); err == nil && ehi > 0 && ehi < 65535-1000 {
			lo, hi = ehi+1, 65536
		}
	}
	for range 500 {
		port := lo + int((portSeq.Add(1)*7919+int64(os.Getpid()))%int64(hi-lo))
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var portSeq atomic.Int64

// servingCert makes a CA and a serving certificate for 127.0.0.1,
// localhost and the in-cluster names of the API server.
func servingCert() (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubeenv-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}

// saKeys makes the RSA key pair that signs ServiceAccount tokens.
func saKeys() (keyPEM, pubPEM []byte, err error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), nil
}
