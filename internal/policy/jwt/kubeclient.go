package jwt

// The TokenReview client. It is one POST, so it is written here rather
// than taken from client-go: client-go made the binary 30 MB larger and
// its idle RSS 16 MB higher (docs/performance.md), for a call that needs
// a URL, a CA, a bearer token or client certificate, and a rate limit.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"
)

// kubeTokenReview is an authentication.k8s.io/v1 TokenReview, with the fields
// the gateway uses.
type kubeTokenReview struct {
	Spec   tokenReviewSpec   `json:"spec"`
	Status tokenReviewStatus `json:"status"`
}

type tokenReviewSpec struct {
	Token     string   `json:"token,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
}

type tokenReviewStatus struct {
	Authenticated bool     `json:"authenticated,omitempty"`
	User          userInfo `json:"user"`
	Audiences     []string `json:"audiences,omitempty"`
	Error         string   `json:"error,omitempty"`
}

type userInfo struct {
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// maxKubeResponseBytes bounds a TokenReview response read from the API
// server.
const maxKubeResponseBytes = 1 << 20

// kubeConn is where and how to reach the API server: the result of a
// kubeconfig, apiServer, or the in-cluster environment, with caFile and
// tokenFile overriding what those provide.
type kubeConn struct {
	host       string // scheme://host[:port], no trailing slash
	caFile     string
	caData     []byte
	insecure   bool
	serverName string
	// Exactly one way to authenticate the gateway, or none.
	token             string
	tokenFile         string // re-read for every review: projected tokens rotate
	certFile, keyFile string
	certData, keyData []byte
	timeout           time.Duration
}

// errNotInCluster: no kubeconfig or apiServer, and not in a pod.
var errNotInCluster = errors.New("tokenReview: not running in a Kubernetes pod; set tokenReview.kubeconfig or tokenReview.apiServer")

// kubeConnFor resolves c into a connection: a kubeconfig (with apiServer
// overriding its server), or apiServer alone, or the in-cluster config.
func kubeConnFor(c reviewerConfig) (*kubeConn, error) {
	var k *kubeConn
	switch {
	case c.kubeconfig != "":
		var err error
		if k, err = loadKubeconfig(c.kubeconfig); err != nil {
			return nil, fmt.Errorf("tokenReview.kubeconfig: %w", err)
		}
		if c.apiServer != "" {
			k.host = c.apiServer
		}
	case c.apiServer != "":
		k = &kubeConn{host: c.apiServer}
	default:
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return nil, errNotInCluster
		}
		if _, err := readBearerToken(inClusterTokenFile); err != nil {
			return nil, fmt.Errorf("tokenReview: in-cluster config: %w", err)
		}
		k = &kubeConn{host: "https://" + net.JoinHostPort(host, port), tokenFile: inClusterTokenFile, caFile: inClusterCAFile}
	}
	if c.caFile != "" {
		k.caFile, k.caData, k.insecure = c.caFile, nil, false
	}
	if c.tokenFile != "" {
		if _, err := readBearerToken(c.tokenFile); err != nil {
			return nil, fmt.Errorf("tokenReview.tokenFile: %w", err)
		}
		k.tokenFile, k.token = c.tokenFile, ""
	}
	k.host = strings.TrimSuffix(k.host, "/")
	u, err := url.Parse(k.host)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("tokenReview: API server %q is not an http(s) URL", k.host)
	}
	k.timeout = c.timeout
	return k, nil
}

// kubeconfig is the part of a kubeconfig file the gateway reads.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
			TLSServerName            string `yaml:"tls-server-name"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token                 string     `yaml:"token"`
			TokenFile             string     `yaml:"tokenFile"`
			ClientCertificate     string     `yaml:"client-certificate"`
			ClientCertificateData string     `yaml:"client-certificate-data"`
			ClientKey             string     `yaml:"client-key"`
			ClientKeyData         string     `yaml:"client-key-data"`
			Exec                  *yaml.Node `yaml:"exec"`
			AuthProvider          *yaml.Node `yaml:"auth-provider"`
			Username              string     `yaml:"username"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

// loadKubeconfig reads the current context of a kubeconfig file. Paths in
// it are relative to the file, as kubectl reads them. Exec plugins and
// auth providers run programs or talk to identity providers; the gateway
// does neither, and says so.
func loadKubeconfig(path string) (*kubeConn, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	ctxName := kc.CurrentContext
	if ctxName == "" && len(kc.Contexts) == 1 {
		ctxName = kc.Contexts[0].Name
	}
	var clusterName, userName string
	found := false
	for _, c := range kc.Contexts {
		if c.Name == ctxName {
			clusterName, userName, found = c.Context.Cluster, c.Context.User, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no context %q", path, ctxName)
	}
	k := &kubeConn{}
	found = false
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		found = true
		cl := c.Cluster
		k.host, k.caFile, k.insecure, k.serverName = cl.Server, rel(cl.CertificateAuthority), cl.InsecureSkipTLSVerify, cl.TLSServerName
		if cl.CertificateAuthorityData != "" {
			if k.caData, err = base64.StdEncoding.DecodeString(cl.CertificateAuthorityData); err != nil {
				return nil, fmt.Errorf("%s: cluster %q: certificate-authority-data: %w", path, clusterName, err)
			}
			k.caFile = ""
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no cluster %q", path, clusterName)
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		us := u.User
		switch {
		case us.Exec != nil || us.AuthProvider != nil:
			return nil, fmt.Errorf("%s: user %q uses an exec plugin or auth provider, which the gateway does not run; use a token, tokenFile or client certificate (or tokenReview.tokenFile)", path, userName)
		case us.Username != "":
			return nil, fmt.Errorf("%s: user %q uses basic auth, which the gateway does not send", path, userName)
		}
		k.token, k.tokenFile = us.Token, rel(us.TokenFile)
		k.certFile, k.keyFile = rel(us.ClientCertificate), rel(us.ClientKey)
		if us.ClientCertificateData != "" {
			if k.certData, err = base64.StdEncoding.DecodeString(us.ClientCertificateData); err != nil {
				return nil, fmt.Errorf("%s: user %q: client-certificate-data: %w", path, userName, err)
			}
		}
		if us.ClientKeyData != "" {
			if k.keyData, err = base64.StdEncoding.DecodeString(us.ClientKeyData); err != nil {
				return nil, fmt.Errorf("%s: user %q: client-key-data: %w", path, userName, err)
			}
		}
	}
	return k, nil
}

// tlsConfig builds the TLS settings: the CA (or the system roots), the
// client certificate if any.
func (k *kubeConn) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: k.serverName, InsecureSkipVerify: k.insecure} // #nosec G402 -- only when the kubeconfig says so
	ca := k.caData
	if k.caFile != "" {
		var err error
		if ca, err = os.ReadFile(k.caFile); err != nil {
			return nil, fmt.Errorf("tokenReview CA: %w", err)
		}
	}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("tokenReview CA: no PEM certificate found")
		}
		tc.RootCAs = pool
	}
	cert, key := k.certData, k.keyData
	var err error
	if k.certFile != "" {
		if cert, err = os.ReadFile(k.certFile); err != nil {
			return nil, fmt.Errorf("tokenReview client certificate: %w", err)
		}
	}
	if k.keyFile != "" {
		if key, err = os.ReadFile(k.keyFile); err != nil {
			return nil, fmt.Errorf("tokenReview client key: %w", err)
		}
	}
	if len(cert) > 0 || len(key) > 0 {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("tokenReview client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// kubeClient sends TokenReviews.
type kubeClient struct {
	conn *kubeConn
	url  string
	hc   *http.Client
	// lim is the client-side rate limit (as client-go's token bucket):
	// requests wait for a token, up to their deadline.
	lim *rate.Limiter
}

func newKubeClient(k *kubeConn) (*kubeClient, error) {
	tc, err := k.tlsConfig()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil, // the API server is reached directly, as in-cluster clients do
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &kubeClient{
		conn: k,
		url:  k.host + "/apis/authentication.k8s.io/v1/tokenreviews",
		hc:   &http.Client{Transport: tr, Timeout: k.timeout},
		lim:  rate.NewLimiter(reviewQPS, reviewBurst),
	}, nil
}

// kubeStatusError is an error answer from the API server (a
// metav1.Status). Its message never holds the reviewed token: the API
// server does not echo the spec.
type kubeStatusError struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func (e *kubeStatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("API server: %d %s: %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("API server: %d %s", e.Code, http.StatusText(e.Code))
}

// create posts tr and returns the API server's answer.
func (c *kubeClient) create(ctx context.Context, tr *kubeTokenReview) (*kubeTokenReview, error) {
	if err := c.lim.Wait(ctx); err != nil {
		return nil, err
	}
	body, err := json.Marshal(struct {
		APIVersion string          `json:"apiVersion"`
		Kind       string          `json:"kind"`
		Spec       tokenReviewSpec `json:"spec"`
	}{"authentication.k8s.io/v1", "TokenReview", tr.Spec})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "agentgateway-tokenreview")
	tok := c.conn.token
	if c.conn.tokenFile != "" {
		if tok, err = readBearerToken(c.conn.tokenFile); err != nil {
			return nil, fmt.Errorf("tokenReview token file: %w", err)
		}
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		// *url.Error names the URL only, which holds no credential.
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxKubeResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKubeResponseBytes {
		return nil, fmt.Errorf("API server: response larger than %d bytes", maxKubeResponseBytes)
	}
	if res.StatusCode/100 != 2 {
		se := &kubeStatusError{}
		if json.Unmarshal(b, se) != nil || se.Code == 0 {
			se = &kubeStatusError{}
		}
		se.Code = res.StatusCode
		return nil, se
	}
	out := &kubeTokenReview{}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("API server: decoding the TokenReview: %w", err)
	}
	return out, nil
}

// kubeStatus returns the HTTP status of an API server error answer, or 0
// when err is not one.
func kubeStatus(err error) int {
	var se *kubeStatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// close releases the client's pooled connections.
func (c *kubeClient) close() { c.hc.CloseIdleConnections() }
