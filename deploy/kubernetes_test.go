package deploy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/oauthkit/authserver/config"
)

// manifests is one rendered overlay, decoded into the Kubernetes types.
type manifests struct {
	deployment     *appsv1.Deployment
	service        *corev1.Service
	configMap      *corev1.ConfigMap
	pdb            *policyv1.PodDisruptionBudget
	networkPolicy  *networkingv1.NetworkPolicy
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	serviceMonitor map[string]any
}

var overlays = []string{"redis-standalone", "redis-sentinel", "servicemonitor"}

// render builds deploy/kubernetes/overlays/NAME with kustomize and decodes
// every object strictly: an unknown or misspelt field, a duplicate field
// or a kind this test does not know fails.
func render(t *testing.T, overlay string) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join("kubernetes", "overlays", overlay))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", overlay, err)
	}
	var m manifests
	for _, r := range rm.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		id := r.GetApiVersion() + " " + r.GetKind()
		var obj any
		switch id {
		case "apps/v1 Deployment":
			m.deployment = new(appsv1.Deployment)
			obj = m.deployment
		case "v1 Service":
			m.service = new(corev1.Service)
			obj = m.service
		case "v1 ConfigMap":
			m.configMap = new(corev1.ConfigMap)
			obj = m.configMap
		case "v1 ServiceAccount":
			obj = new(corev1.ServiceAccount)
		case "policy/v1 PodDisruptionBudget":
			m.pdb = new(policyv1.PodDisruptionBudget)
			obj = m.pdb
		case "networking.k8s.io/v1 NetworkPolicy":
			m.networkPolicy = new(networkingv1.NetworkPolicy)
			obj = m.networkPolicy
		case "autoscaling/v2 HorizontalPodAutoscaler":
			m.hpa = new(autoscalingv2.HorizontalPodAutoscaler)
			obj = m.hpa
		case "monitoring.coreos.com/v1 ServiceMonitor":
			// No k8s.io/api type: decoded loosely, checked by hand.
			m.serviceMonitor = map[string]any{}
			obj = &m.serviceMonitor
		default:
			t.Fatalf("%s: unexpected object %s %s", overlay, id, r.GetName())
		}
		strict, err := json.UnmarshalStrict(data, obj)
		if err != nil {
			t.Fatalf("%s: decode %s: %v", overlay, id, err)
		}
		for _, e := range strict {
			t.Errorf("%s: %s %s: %v", overlay, id, r.GetName(), e)
		}
	}
	for name, missing := range map[string]bool{
		"Deployment": m.deployment == nil, "Service": m.service == nil, "ConfigMap": m.configMap == nil,
		"PodDisruptionBudget": m.pdb == nil, "NetworkPolicy": m.networkPolicy == nil, "HorizontalPodAutoscaler": m.hpa == nil,
	} {
		if missing {
			t.Fatalf("%s: no %s", overlay, name)
		}
	}
	return m
}

func TestKubernetesOverlays(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			m := render(t, overlay)
			c := container(t, m.deployment)
			env := containerEnv(t, c)
			checkEnvNames(t, overlay, env)
			checkRestricted(t, m.deployment)
			checkWiring(t, m)
			switch overlay {
			case "redis-sentinel":
				if env["AUTHSERVER_STORE_REDIS_MASTER_NAME"] == "" || len(strings.Split(env["AUTHSERVER_STORE_REDIS_ADDRS"], ",")) < 2 {
					t.Errorf("sentinel overlay: want a master name and several Sentinel addresses, got %q and %q",
						env["AUTHSERVER_STORE_REDIS_MASTER_NAME"], env["AUTHSERVER_STORE_REDIS_ADDRS"])
				}
			case "redis-standalone", "servicemonitor":
				if env["AUTHSERVER_STORE_REDIS_MASTER_NAME"] != "" || strings.Contains(env["AUTHSERVER_STORE_REDIS_ADDRS"], ",") || env["AUTHSERVER_STORE_REDIS_ADDRS"] == "" {
					t.Errorf("standalone: want one Redis address and no master name, got %q", env["AUTHSERVER_STORE_REDIS_ADDRS"])
				}
			}
			if overlay == "servicemonitor" {
				checkServiceMonitor(t, m)
			} else if m.serviceMonitor != nil {
				t.Errorf("%s: a ServiceMonitor outside the servicemonitor overlay needs the Prometheus Operator", overlay)
			}
		})
	}
}

func container(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return &cs[0]
}

func containerEnv(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			t.Errorf("env %s given twice", e.Name)
		}
		if e.ValueFrom != nil {
			t.Errorf("env %s: secrets come as files, not as variables", e.Name)
		}
		env[e.Name] = e.Value
	}
	return env
}

// checkRestricted checks the Pod Security "restricted" profile and the
// read-only root filesystem.
func checkRestricted(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext: want runAsNonRoot and runAsUser 65532 (the image's user), got %+v", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext: want seccompProfile RuntimeDefault")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("pod uses host namespaces")
	}
	for _, v := range pod.Volumes {
		vs := v.VolumeSource
		if vs.ConfigMap == nil && vs.Secret == nil && vs.EmptyDir == nil && vs.Projected == nil && vs.DownwardAPI == nil &&
			vs.PersistentVolumeClaim == nil && vs.CSI == nil && vs.Ephemeral == nil {
			t.Errorf("volume %s: a type the restricted profile does not allow", v.Name)
		}
	}
	if psc != nil && len(psc.Sysctls) > 0 {
		t.Errorf("pod sets sysctls")
	}
	for _, c := range append(pod.InitContainers, pod.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("container %s: no securityContext", c.Name)
			continue
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: want allowPrivilegeEscalation false", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s: privileged", c.Name)
		}
		if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s: want capabilities drop [ALL] and none added, got %+v", c.Name, sc.Capabilities)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: want readOnlyRootFilesystem", c.Name)
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				t.Errorf("container %s: hostPort %d", c.Name, p.HostPort)
			}
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			t.Errorf("container %s: runs as root", c.Name)
		}
		if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault && sc.SeccompProfile.Type != corev1.SeccompProfileTypeLocalhost {
			t.Errorf("container %s: seccompProfile %s", c.Name, sc.SeccompProfile.Type)
		}
	}
}

// checkWiring checks that the objects refer to each other and to what the
// server really does: its configuration, its ports, its probe paths.
func checkWiring(t *testing.T, m manifests) {
	t.Helper()
	d := m.deployment
	pod := d.Spec.Template
	podLabels := labels.Set(pod.Labels)
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("want at least 2 replicas, got %v", d.Spec.Replicas)
	}
	selects := func(what string, sel map[string]string) {
		if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(podLabels) {
			t.Errorf("%s selector %v does not select the pods %v", what, sel, pod.Labels)
		}
	}
	selects("Deployment", d.Spec.Selector.MatchLabels)
	selects("Service", m.service.Spec.Selector)
	selects("PodDisruptionBudget", m.pdb.Spec.Selector.MatchLabels)
	selects("NetworkPolicy", m.networkPolicy.Spec.PodSelector.MatchLabels)
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		t.Errorf("no topologySpreadConstraints")
	}
	for _, c := range pod.Spec.TopologySpreadConstraints {
		selects("topologySpreadConstraint "+c.TopologyKey, c.LabelSelector.MatchLabels)
	}
	if m.pdb.Spec.MinAvailable == nil && m.pdb.Spec.MaxUnavailable == nil {
		t.Errorf("PodDisruptionBudget sets neither minAvailable nor maxUnavailable")
	}
	if ref := m.hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != d.Name {
		t.Errorf("HPA scales %s %s, not the Deployment %s", ref.Kind, ref.Name, d.Name)
	}
	if m.hpa.Spec.MinReplicas == nil || *m.hpa.Spec.MinReplicas < 2 {
		t.Errorf("HPA minReplicas below 2")
	}

	c := container(t, d)
	if cpu := c.Resources.Requests.Cpu(); cpu.IsZero() {
		t.Errorf("no CPU request: the HPA's utilization target has nothing to refer to")
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("want a memory request and limit")
	}

	// The configuration the pod runs with: the ConfigMap's config.yaml and
	// the container's environment, its secret files stood in by temp files.
	env := containerEnv(t, c)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	mountedConfig := mountedKey(t, pod.Spec, c, m.configMap.Name, env["AUTHSERVER_CONFIG"])
	if err := os.WriteFile(cfgFile, []byte(m.configMap.Data[mountedConfig]), 0o600); err != nil {
		t.Fatal(err)
	}
	kek, password := secretFiles(t, dir)
	for name, file := range map[string]string{"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE": kek, "AUTHSERVER_STORE_REDIS_PASSWORD_FILE": password} {
		if env[name] == "" {
			t.Errorf("%s not set", name)
			continue
		}
		mountedKey(t, pod.Spec, c, "", env[name])
		env[name] = file
	}
	env["AUTHSERVER_CONFIG"] = cfgFile
	configCheck(t, "kubernetes", env)
	cfg, err := config.Load(cfgFile, environ(env))
	if err != nil {
		t.Fatalf("load the pod's configuration: %v", err)
	}

	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if got, want := ports["http"], addrPort(t, cfg.HTTP.Addr); got != want {
		t.Errorf("container port http is %d, http.addr listens on %d", got, want)
	}
	if cfg.HTTP.AdminAddr == "" {
		t.Fatalf("http.admin_addr is empty: no /metrics")
	}
	if got, want := ports["admin"], addrPort(t, cfg.HTTP.AdminAddr); got != want {
		t.Errorf("container port admin is %d, http.admin_addr listens on %d", got, want)
	}

	// Drain: preStop sleeps http.shutdown_delay, and the kubelet waits for
	// the preStop, the delay and the timeout before SIGKILL.
	var preStop int64
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("want a preStop sleep")
	} else {
		preStop = c.Lifecycle.PreStop.Sleep.Seconds
	}
	if delay := int64(cfg.HTTP.ShutdownDelay / time.Second); delay == 0 || preStop != delay {
		t.Errorf("preStop sleeps %ds, http.shutdown_delay is %v: want them equal and not zero", preStop, cfg.HTTP.ShutdownDelay)
	}
	need := preStop + int64((cfg.HTTP.ShutdownDelay+cfg.HTTP.ShutdownTimeout)/time.Second)
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g <= need {
		t.Errorf("terminationGracePeriodSeconds %v: want above preStop + shutdown_delay + shutdown_timeout = %ds", g, need)
	}

	// Probes and the scrape annotations, asked of a server that runs with
	// this configuration (on the embedded store: no Redis here).
	env["AUTHSERVER_STORE_DRIVER"] = "embedded"
	env["AUTHSERVER_STORE_EMBEDDED_PATH"] = filepath.Join(dir, "authserver.db")
	srv := startServer(t, env)
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
	wantPath := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}
	for kind, p := range probes {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: want an httpGet probe", kind)
			continue
		}
		if want, ok := wantPath[kind]; ok && p.HTTPGet.Path != want {
			t.Errorf("%s probe: path %s, want %s", kind, p.HTTPGet.Path, want)
		}
		if port := probePort(t, p.HTTPGet.Port, ports); port != ports["http"] {
			t.Errorf("%s probe: port %d is not http.addr's %d", kind, port, ports["http"])
		}
		get(t, srv.base+p.HTTPGet.Path, "")
	}
	ann := pod.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(ports["admin"])) {
		t.Errorf("scrape annotations %v: want scrape true on the admin port %d", ann, ports["admin"])
	}
	get(t, srv.admin+ann["prometheus.io/path"], "authserver_signing_key_age_seconds")

	// The Service and the NetworkPolicy name ports the container has.
	for _, sp := range m.service.Spec.Ports {
		if probePort(t, sp.TargetPort, ports) == 0 {
			t.Errorf("Service port %s targets %s, which the container does not expose", sp.Name, sp.TargetPort.String())
		}
	}
	admitted := map[int32]bool{}
	for _, rule := range m.networkPolicy.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port != nil {
				admitted[probePort(t, *p.Port, ports)] = true
			}
		}
	}
	if !admitted[ports["http"]] || !admitted[ports["admin"]] {
		t.Errorf("NetworkPolicy admits ports %v; want http %d and admin %d", admitted, ports["http"], ports["admin"])
	}
}

// mountedKey checks that path is a file of a volume mounted in c, from the
// ConfigMap cmName (or any Secret when cmName is empty), and returns its key.
func mountedKey(t *testing.T, pod corev1.PodSpec, c *corev1.Container, cmName, path string) string {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == vm.Name {
				vol = &pod.Volumes[i]
			}
		}
		if vol == nil {
			t.Fatalf("volumeMount %s names no volume", vm.Name)
		}
		var rel string
		switch {
		case vm.SubPath != "" && path == vm.MountPath:
			rel = vm.SubPath
		case vm.SubPath == "" && strings.HasPrefix(path, vm.MountPath+"/"):
			rel = strings.TrimPrefix(path, vm.MountPath+"/")
		default:
			continue
		}
		if cmName != "" && (vol.ConfigMap == nil || vol.ConfigMap.Name != cmName) {
			t.Errorf("%s is mounted from volume %s, not the ConfigMap %s", path, vm.Name, cmName)
		}
		if cmName == "" && vol.Secret == nil {
			t.Errorf("%s is mounted from volume %s, which is not a Secret", path, vm.Name)
		}
		if vol.Secret != nil {
			for _, it := range vol.Secret.Items {
				if it.Path == rel {
					return it.Key
				}
			}
			if len(vol.Secret.Items) > 0 {
				t.Errorf("%s: Secret %s has no item at %s", path, vol.Secret.SecretName, rel)
			}
		}
		return rel
	}
	t.Errorf("%s is in no mounted volume", path)
	return ""
}

func addrPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return int32(n)
}

// probePort resolves a named or numbered port of the container; 0 if the
// container has no such port.
func probePort(t *testing.T, p intstr.IntOrString, ports map[string]int32) int32 {
	t.Helper()
	if p.Type == intstr.String {
		return ports[p.StrVal]
	}
	for _, n := range ports {
		if n == p.IntVal {
			return n
		}
	}
	return 0
}

// get fails the test unless url answers 200 with a body containing want.
func get(t *testing.T, url, want string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		t.Errorf("GET %s: %s, want 200 with %q\n%.300s", url, resp.Status, want, body)
	}
}

// checkServiceMonitor checks the fields of the ServiceMonitor by hand: it
// has no k8s.io/api type.
func checkServiceMonitor(t *testing.T, m manifests) {
	t.Helper()
	sm := m.serviceMonitor
	if sm == nil {
		t.Fatal("servicemonitor overlay: no ServiceMonitor")
	}
	onlyKeys(t, "ServiceMonitor", sm, "apiVersion", "kind", "metadata", "spec")
	spec, _ := sm["spec"].(map[string]any)
	onlyKeys(t, "ServiceMonitor spec", spec, "selector", "endpoints", "namespaceSelector", "jobLabel")
	sel, _ := spec["selector"].(map[string]any)
	onlyKeys(t, "ServiceMonitor selector", sel, "matchLabels")
	matchLabels := map[string]string{}
	ml, _ := sel["matchLabels"].(map[string]any)
	for k, v := range ml {
		matchLabels[k] = fmt.Sprint(v)
	}
	if len(matchLabels) == 0 || !labels.SelectorFromSet(matchLabels).Matches(labels.Set(m.service.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not select the Service (labels %v)", matchLabels, m.service.Labels)
	}
	servicePorts := map[string]bool{}
	for _, p := range m.service.Spec.Ports {
		servicePorts[p.Name] = true
	}
	eps, _ := spec["endpoints"].([]any)
	if len(eps) == 0 {
		t.Errorf("ServiceMonitor has no endpoints")
	}
	for _, e := range eps {
		ep, _ := e.(map[string]any)
		onlyKeys(t, "ServiceMonitor endpoint", ep, "port", "path", "interval", "scrapeTimeout")
		if port, _ := ep["port"].(string); port != "admin" || !servicePorts[port] {
			t.Errorf("ServiceMonitor endpoint port %v: want the Service's admin port", ep["port"])
		}
		if ep["path"] != m.deployment.Spec.Template.Annotations["prometheus.io/path"] {
			t.Errorf("ServiceMonitor path %v differs from the scrape annotation", ep["path"])
		}
	}
}

func onlyKeys(t *testing.T, what string, m map[string]any, allowed ...string) {
	t.Helper()
	if m == nil {
		t.Errorf("%s: missing", what)
		return
	}
	ok := map[string]bool{}
	for _, k := range allowed {
		ok[k] = true
	}
	for k := range m {
		if !ok[k] {
			t.Errorf("%s: unknown field %q", what, k)
		}
	}
}
