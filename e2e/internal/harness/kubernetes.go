package harness

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Manifests are the Kubernetes objects of examples/kubernetes that Traefik's CRD provider reads.
type Manifests struct {
	Secrets       map[string]map[string]string // "namespace/name" -> key -> value
	Middlewares   []Object
	IngressRoutes []Object
}

// Object is one manifest, decoded as the API server would store it (JSON-compatible values).
type Object struct {
	Kind string
	Name string
	Nsp  string // namespace ("default" when unset)
	Spec map[string]any
}

// LoadManifests parses every *.yaml and *.yml file of dir. localize may rewrite a file's text first.
func LoadManifests(dir string, localize func(name, content string) (string, error)) (*Manifests, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	m := &Manifests{Secrets: map[string]map[string]string{}}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		text := string(data)
		if localize != nil {
			if text, err = localize(file, text); err != nil {
				return nil, err
			}
		}
		if err := m.add(file, text); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Manifests) add(file, text string) error {
	dec := yaml.NewDecoder(strings.NewReader(text))
	for i := 0; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		if doc == nil {
			continue
		}
		// The API server stores JSON: go through it, as the CRD provider's input does.
		raw, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("%s: document %d is not JSON-compatible: %w", file, i, err)
		}
		doc = nil
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		obj := Object{}
		obj.Kind, _ = doc["kind"].(string)
		meta, _ := doc["metadata"].(map[string]any)
		obj.Name, _ = meta["name"].(string)
		obj.Nsp, _ = meta["namespace"].(string)
		if obj.Nsp == "" {
			obj.Nsp = "default"
		}
		obj.Spec, _ = doc["spec"].(map[string]any)
		apiVersion, _ := doc["apiVersion"].(string)
		where := fmt.Sprintf("%s: %s %s/%s", file, obj.Kind, obj.Nsp, obj.Name)
		switch obj.Kind {
		case "Secret":
			values, err := secretValues(doc)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			m.Secrets[obj.Nsp+"/"+obj.Name] = values
		case "Middleware", "IngressRoute":
			if apiVersion != "traefik.io/v1alpha1" {
				return fmt.Errorf("%s: apiVersion %q, want traefik.io/v1alpha1", where, apiVersion)
			}
			if obj.Kind == "Middleware" {
				m.Middlewares = append(m.Middlewares, obj)
			} else {
				m.IngressRoutes = append(m.IngressRoutes, obj)
			}
		}
	}
}

// secretValues merges data (base64) and stringData (which wins), as the API server does.
func secretValues(doc map[string]any) (map[string]string, error) {
	values := map[string]string{}
	data, _ := doc["data"].(map[string]any)
	for k, v := range data {
		s, _ := v.(string)
		decoded, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("data.%s is not base64: %w", k, err)
		}
		values[k] = string(decoded)
	}
	stringData, _ := doc["stringData"].(map[string]any)
	for k, v := range stringData {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("stringData.%s is not a string", k)
		}
		values[k] = s
	}
	return values, nil
}

// PluginConfig converts a Middleware's spec.plugin the way Traefik's CRD provider does
// (createPluginMiddleware): a JSON round trip into map[name]map[key]any, then every string
// "urn:k8s:secret:<secret>:<key>", however deep, replaced by that Secret key's value from the
// Middleware's namespace.
func (m *Manifests) PluginConfig(mw Object) (map[string]map[string]any, error) {
	plugins, ok := mw.Spec["plugin"]
	if !ok {
		return nil, nil
	}
	data, err := json.Marshal(plugins)
	if err != nil {
		return nil, err
	}
	conf := map[string]map[string]any{}
	if err := json.Unmarshal(data, &conf); err != nil {
		return nil, fmt.Errorf("middleware %s/%s: spec.plugin: %w", mw.Nsp, mw.Name, err)
	}
	for _, pc := range conf {
		for key := range pc {
			if pc[key], err = m.loadSecretKeys(mw.Nsp, pc[key]); err != nil {
				return nil, fmt.Errorf("middleware %s/%s: %s: %w", mw.Nsp, mw.Name, key, err)
			}
		}
	}
	return conf, nil
}

func (m *Manifests) loadSecretKeys(ns string, v any) (any, error) {
	var err error
	switch v := v.(type) {
	case string:
		if !strings.HasPrefix(v, "urn:k8s:secret:") {
			return v, nil
		}
		parts := strings.Split(v, ":")
		if len(parts) != 5 {
			return nil, fmt.Errorf("malformed secret URN %q", v)
		}
		secret, ok := m.Secrets[ns+"/"+parts[3]]
		if !ok {
			return nil, fmt.Errorf("secret %s/%s is not found", ns, parts[3])
		}
		value, ok := secret[parts[4]]
		if !ok {
			return nil, fmt.Errorf("key %q not found in secret %s/%s", parts[4], ns, parts[3])
		}
		return value, nil
	case []any:
		for i := range v {
			if v[i], err = m.loadSecretKeys(ns, v[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k := range v {
			if v[k], err = m.loadSecretKeys(ns, v[k]); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// FileConfig renders the Middlewares and IngressRoutes as file-provider dynamic configuration.
// Middlewares are named "<namespace>-<name>" as the CRD provider names them; each IngressRoute
// route becomes a router "<namespace>-<ingressroute>-<index>". services maps the
// "<namespace>/<service>:<port>" the routes name to a URL.
func (m *Manifests) FileConfig(services map[string]string) (string, error) {
	middlewares := map[string]any{}
	for _, mw := range m.Middlewares {
		conf, err := m.PluginConfig(mw)
		if err != nil {
			return "", err
		}
		if conf == nil {
			return "", fmt.Errorf("middleware %s/%s has no spec.plugin", mw.Nsp, mw.Name)
		}
		middlewares[mw.Nsp+"-"+mw.Name] = map[string]any{"plugin": conf}
	}
	routers := map[string]any{}
	fileServices := map[string]any{}
	for _, ir := range m.IngressRoutes {
		var spec struct {
			EntryPoints []string `json:"entryPoints"`
			Routes      []struct {
				Match       string `json:"match"`
				Kind        string `json:"kind"`
				Middlewares []struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"middlewares"`
				Services []struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
					Port      any    `json:"port"`
				} `json:"services"`
			} `json:"routes"`
		}
		raw, _ := json.Marshal(ir.Spec)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			return "", fmt.Errorf("ingressroute %s/%s: %w", ir.Nsp, ir.Name, err)
		}
		for i, route := range spec.Routes {
			name := fmt.Sprintf("%s-%s-%d", ir.Nsp, ir.Name, i)
			if route.Kind != "Rule" {
				return "", fmt.Errorf("ingressroute %s/%s route %d: kind %q, want Rule", ir.Nsp, ir.Name, i, route.Kind)
			}
			if len(route.Services) != 1 {
				return "", fmt.Errorf("ingressroute %s/%s route %d: %d services, want 1", ir.Nsp, ir.Name, i, len(route.Services))
			}
			svc := route.Services[0]
			ns := svc.Namespace
			if ns == "" {
				ns = ir.Nsp
			}
			key := fmt.Sprintf("%s/%s:%v", ns, svc.Name, svc.Port)
			url, ok := services[key]
			if !ok {
				return "", fmt.Errorf("ingressroute %s/%s route %d: service %s is not one the test provides (%v)", ir.Nsp, ir.Name, i, key, services)
			}
			serviceName := strings.NewReplacer("/", "-", ":", "-").Replace(key)
			fileServices[serviceName] = map[string]any{"loadBalancer": map[string]any{"servers": []map[string]string{{"url": url}}}}
			var mws []string
			for _, ref := range route.Middlewares {
				mns := ref.Namespace
				if mns == "" {
					mns = ir.Nsp
				}
				if _, ok := middlewares[mns+"-"+ref.Name]; !ok {
					return "", fmt.Errorf("ingressroute %s/%s route %d: middleware %s/%s is not defined", ir.Nsp, ir.Name, i, mns, ref.Name)
				}
				mws = append(mws, mns+"-"+ref.Name)
			}
			routers[name] = map[string]any{"rule": route.Match, "entryPoints": spec.EntryPoints,
				"middlewares": mws, "service": serviceName}
		}
	}
	if len(routers) == 0 {
		return "", errors.New("no IngressRoute routes")
	}
	out, err := json.MarshalIndent(map[string]any{"http": map[string]any{
		"routers": routers, "middlewares": middlewares, "services": fileServices,
	}}, "", "  ")
	return string(out) + "\n", err
}
