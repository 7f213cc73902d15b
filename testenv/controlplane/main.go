// Command controlplane runs a real Kubernetes control plane for tests: an embedded etcd and the
// upstream kube-apiserver in one process, on loopback ports, with RBAC on.
//
// It writes kubeconfigs into --out: admin.kubeconfig (group system:masters),
// restricted.kubeconfig (a user with no rights of its own, so tests can bind exactly the
// operator's ClusterRole to it) and rbac/xapi-rbac-NN.kubeconfig (more such users, group
// xapi-rbac, one per RBAC experiment). Every request of the xapi-rbac group is written to the
// audit log audit.log (level Metadata: who, verb, resource, response code), so a test reads
// back from the API server itself which requests were refused. It prints "READY <url>" once /readyz answers, and stops
// cleanly, removing etcd's data, on SIGTERM/SIGINT or when its stdin closes, so a crashed test
// run never leaves it behind.
//
// There is no kubelet, scheduler or controller-manager: API objects only.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/server/flagz"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

const (
	adminUser      = "xapi-admin"
	restrictedUser = "xapi-restricted"
	rbacGroup      = "xapi-rbac"
	rbacUsers      = 16
)

// auditPolicy records the requests of the xapi-rbac users only, once each (at completion).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  userGroups: ["` + rbacGroup + `"]
- level: None
`

func main() {
	out := flag.String("out", "", "directory for kubeconfigs, certificates and etcd data (required)")
	port := flag.Int("port", 0, "kube-apiserver secure port on 127.0.0.1 (0: a free one)")
	watchStdin := flag.Bool("exit-on-stdin-close", true, "stop when standard input closes")
	flag.Parse()
	if *out == "" {
		fail(fmt.Errorf("--out is required"))
	}
	if err := run(*out, *port, *watchStdin); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "controlplane:", err)
	os.Exit(1)
}

func run(out string, port int, watchStdin bool) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Our own signal handling only; kube-apiserver's SetupSignalContext is never called, since a
	// second call to it panics and it would exit the process before etcd's data is removed.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() { <-sigs; cancel() }()
	if watchStdin {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	}

	etcdDir, err := os.MkdirTemp(out, "etcd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(etcdDir)

	etcdURL, stopEtcd, err := startEtcd(etcdDir)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer stopEtcd()

	if port == 0 {
		if port, err = freePort(); err != nil {
			return err
		}
	}
	pki, err := writePKI(out)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	serverURL := "https://127.0.0.1:" + strconv.Itoa(port)
	for name, token := range map[string]string{"admin": pki.adminToken, "restricted": pki.restrictedToken} {
		if err := writeKubeconfig(filepath.Join(out, name+".kubeconfig"), serverURL, pki.caFile, token); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(out, "rbac"), 0o700); err != nil {
		return err
	}
	for i, token := range pki.rbacTokens {
		path := filepath.Join(out, "rbac", rbacUser(i)+".kubeconfig")
		if err := writeKubeconfig(path, serverURL, pki.caFile, token); err != nil {
			return err
		}
	}
	auditPolicyFile := filepath.Join(out, "audit-policy.yaml")
	if err := os.WriteFile(auditPolicyFile, []byte(auditPolicy), 0o600); err != nil {
		return err
	}

	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(out, "certs"),
		"--tls-cert-file=" + pki.serverCert,
		"--tls-private-key-file=" + pki.serverKey,
		"--token-auth-file=" + pki.tokenFile,
		"--authorization-mode=RBAC",
		"--audit-policy-file=" + auditPolicyFile,
		"--audit-log-path=" + filepath.Join(out, "audit.log"),
		"--audit-log-mode=blocking",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + pki.saKey,
		"--service-account-signing-key-file=" + pki.saKey,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=0",
	}
	errCh := make(chan error, 1)
	go func() { errCh <- runAPIServer(ctx, args) }()

	readyCh := make(chan error, 1)
	go func() { readyCh <- waitReady(ctx, serverURL, pki.caFile, pki.adminToken) }()
	select {
	case err := <-errCh:
		return fmt.Errorf("kube-apiserver exited before ready: %w", err)
	case err := <-readyCh:
		if err != nil {
			return err
		}
	}
	fmt.Printf("READY %s\n", serverURL)

	select {
	case <-ctx.Done():
	case err := <-errCh:
		if err != nil {
			return fmt.Errorf("kube-apiserver: %w", err)
		}
	}
	// The apiserver drains on context cancel; do not wait forever for it.
	select {
	case <-errCh:
	case <-time.After(10 * time.Second):
	}
	return nil
}

// runAPIServer does what kube-apiserver's cobra command does, with our context.
func runAPIServer(ctx context.Context, args []string) error {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	namedFlagSets := s.Flags()
	s.Flagz = flagz.NamedFlagSetsReader{FlagSets: namedFlagSets}
	for _, f := range namedFlagSets.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return err
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return utilerrors.NewAggregate(errs)
	}
	return app.Run(ctx, completed)
}

func startEtcd(dir string) (string, func(), error) {
	clientPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "xapi-testenv"
	cfg.Dir = dir
	cfg.LogLevel = "error"
	clientURL, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(clientPort))
	peerURL, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(peerPort))
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// Test data is disposable: skip fsync so etcd is fast on slow disks.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return "", nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return "", nil, fmt.Errorf("etcd not ready after 60s")
	}
	return clientURL.String(), e.Close, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type pkiFiles struct {
	caFile, serverCert, serverKey, saKey, tokenFile string
	adminToken, restrictedToken                     string
	rbacTokens                                      []string
}

func rbacUser(i int) string { return fmt.Sprintf("xapi-rbac-%02d", i) }

// writePKI makes a CA, a serving certificate for 127.0.0.1/localhost signed by it, the
// service-account signing key and the static token file for the two users.
func writePKI(out string) (*pkiFiles, error) {
	dir := filepath.Join(out, "pki")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "xapi-testenv-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	srvKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	p := &pkiFiles{
		caFile:          filepath.Join(dir, "ca.crt"),
		serverCert:      filepath.Join(dir, "server.crt"),
		serverKey:       filepath.Join(dir, "server.key"),
		saKey:           filepath.Join(dir, "sa.key"),
		tokenFile:       filepath.Join(dir, "tokens.csv"),
		adminToken:      randomToken(),
		restrictedToken: randomToken(),
	}
	files := map[string][]byte{
		p.caFile:     pemBlock("CERTIFICATE", caDER),
		p.serverCert: pemBlock("CERTIFICATE", srvDER),
		p.serverKey:  pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(srvKey)),
		p.saKey:      pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)),
	}
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n%s,%s,%s\n",
		p.adminToken, adminUser, adminUser, p.restrictedToken, restrictedUser, restrictedUser)
	for i := 0; i < rbacUsers; i++ {
		p.rbacTokens = append(p.rbacTokens, randomToken())
		tokens += fmt.Sprintf("%s,%s,%s,\"%s\"\n", p.rbacTokens[i], rbacUser(i), rbacUser(i), rbacGroup)
	}
	files[p.tokenFile] = []byte(tokens)
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func writeKubeconfig(path, server, caFile, token string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: xapi-testenv
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: user
  user:
    token: %s
contexts:
- name: xapi-testenv
  context:
    cluster: xapi-testenv
    user: user
    namespace: default
current-context: xapi-testenv
`, server, caFile, token)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

func waitReady(ctx context.Context, server, caFile, token string) error {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return fmt.Errorf("kube-apiserver not ready at %s/readyz after 3m", server)
}
